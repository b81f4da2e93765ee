import { randomUUID } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { Broker } from '../../src/broker/broker.ts';
import { PRIMARY_SINGLE_ACTIVE } from '../../src/dispatch/queues.ts';
import type { RunningRole } from '../../src/engine/role.ts';
import type { InquiryCatalog } from '../../src/inquiry/catalog.ts';
import { serializeEnvelope, ticksFromDate, type NotificationEnvelope, type ResultRow, type RowKey } from '../../src/notification.ts';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.ts';

/** Shared by the dispatch tests: folders of destination files, envelopes, polling. */
export function catalogOf(inquiries: Record<string, string[]>): InquiryCatalog {
  return new Map(Object.entries(inquiries).map(([name, resultColumns]) => [name, { name, file: `inquiries/${name}.sql`, resultColumns }]));
}

export async function tempDir(label: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `pushcdc-${label}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `<dir>/<folder>/<name>.json`: an object is pretty-printed (one field per line), a string as is. */
export async function writeConfig(dir: string, folder: string, name: string, value: object | string): Promise<string> {
  await mkdir(path.join(dir, folder), { recursive: true });
  const file = path.join(dir, folder, `${name}.json`);
  await writeFile(file, typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

export interface RowChange {
  key: RowKey;
  row: ResultRow;
}

export function envelope(query: string, changes: { inserted?: RowChange[]; deleted?: RowChange[] }, timeStamp?: bigint): NotificationEnvelope {
  const inserted = changes.inserted ?? [];
  const deleted = changes.deleted ?? [];
  return {
    notification: {
      Inserted: inserted.map((c) => c.row),
      Deleted: deleted.map((c) => c.row),
      Query: query,
      CompanyId: 'Company',
      Id: randomUUID(),
      TimeStamp: timeStamp ?? ticksFromDate(new Date()),
      AdditionalInfo: {},
    },
    keys: { Inserted: inserted.map((c) => c.key), Deleted: deleted.map((c) => c.key) },
    lsn: '0/16B3748',
  };
}

export async function publishEnvelopes(broker: Broker, queue: string, envelopes: NotificationEnvelope[]): Promise<void> {
  await broker.assertQueue(queue, { singleActiveConsumer: PRIMARY_SINGLE_ACTIVE });
  await broker.publish(
    queue,
    envelopes.map((e) => ({ body: serializeEnvelope(e), messageId: e.notification.Id })),
  );
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * A test file's webhook workspace: a fresh --dir for each test, and the HTTP receivers and the
 * dispatcher a test starts, all stopped and removed after it.
 */
export function webhookWorkspace(label: string): {
  readonly dir: string;
  dispatcher: RunningRole | undefined;
  receiver(...args: Parameters<typeof startHttpReceiver>): Promise<HttpReceiver>;
} {
  let dir = '';
  let removeDir: () => Promise<void> = async () => undefined;
  const receivers: HttpReceiver[] = [];
  const workspace = {
    get dir() {
      return dir;
    },
    dispatcher: undefined as RunningRole | undefined,
    async receiver(...args: Parameters<typeof startHttpReceiver>): Promise<HttpReceiver> {
      const r = await startHttpReceiver(...args);
      receivers.push(r);
      return r;
    },
  };
  beforeEach(async () => {
    ({ dir, remove: removeDir } = await tempDir(label));
  });
  afterEach(async () => {
    await workspace.dispatcher?.stop();
    workspace.dispatcher = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await removeDir();
  });
  return workspace;
}
