import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A temporary --dir for a test, with helpers to write inquiries/, destinations/, stores/ files. */
export interface ProjectDir {
  dir: string;
  write(relative: string, content: string | object): Promise<string>;
  remove(relative: string): Promise<void>;
  /** Deletes the whole folder. */
  cleanup(): Promise<void>;
}

export async function createProjectDir(label: string): Promise<ProjectDir> {
  const dir = await mkdtemp(path.join(tmpdir(), `pushcdc-${label}-`));
  return {
    dir,
    async write(relative, content) {
      const file = path.join(dir, relative);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    },
    async remove(relative) {
      await rm(path.join(dir, relative), { force: true });
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
