import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The real engine as a child process (`pushcdc start`), so its memory is its own: measured in the
 * bench's process it would include the bench's consumer, the workload's bookkeeping and the other
 * runs' leftovers. Memory figures come from /proc/<pid>/status (Linux).
 */
const BIN = fileURLToPath(new URL('../bin/pushcdc.js', import.meta.url));
/** Children still running, so an interrupted bench can kill them before dropping their slots. */
const running = new Set<ChildProcess>();

export interface MemoryReading {
  /** Resident set now, kB. */
  rssKb: number;
  /** Peak resident set (since start, or since resetPeak), kB. */
  hwmKb: number;
}

export interface EngineProcess {
  pid: number;
  /** Resolves when the child exits (also when it died on its own: check before waiting on it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** null once the process is gone. */
  memory(): MemoryReading | null;
  /** Resets VmHWM to the current RSS (Linux ≥ 4.0, own processes); false when the kernel refused. */
  resetPeak(): boolean;
  /** The end of what the engine wrote to stderr (its logs at PUSHCDC_LOG_LEVEL), for error reports. */
  stderrTail(): string;
  /** SIGTERM (the engine drains and exits), then SIGKILL after `graceMs`; true if it had to be killed. */
  stop(graceMs: number): Promise<boolean>;
}

export function spawnEngine(options: { dir: string; roles: string; env: Record<string, string> }): EngineProcess {
  const child = spawn(process.execPath, [BIN, 'start', '--roles', options.roles, '--dir', options.dir], {
    cwd: options.dir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${BIN}`);
  const pid = child.pid;
  running.add(child);
  let tail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    pid,
    exited,
    hasExited: () => done,
    memory() {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
        return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
      } catch {
        return null;
      }
    },
    resetPeak() {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    stderrTail: () => tail,
    async stop(graceMs) {
      if (done) return false;
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([exited, timer])) !== 'timeout') return false;
      child.kill('SIGKILL');
      await exited;
      return true;
    },
  };
}

/** SIGKILLs every engine child still running (for an interrupted bench: no drain, just stop). */
export function killEngines(): void {
  for (const child of running) child.kill('SIGKILL');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
