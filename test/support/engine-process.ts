import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.ts';

/**
 * `pushcdc start` as a child process, for crash tests: started, waited on until a role reports it is
 * working, killed with any signal, restarted.
 */
export class EngineProcess {
  private child: ChildProcess | null = null;
  stderr = '';

  constructor(
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  /** Starts and resolves when stderr shows `readyPattern` (a log line of the role under test). */
  start(readyPattern: RegExp, timeoutMs = 30_000): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'start', ...this.args], {
      env: { ...process.env, ...this.env, PUSHCDC_LOG_LEVEL: 'info', VITEST: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let seen = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`engine not ready within ${timeoutMs} ms:\n${seen.slice(-3000)}`)), timeoutMs);
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        this.stderr += d.toString();
        if (readyPattern.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (!readyPattern.test(seen)) reject(new Error(`engine exited (${code ?? signal}) before ready:\n${seen.slice(-3000)}`));
      });
    });
  }

  /** Kills the process and waits for it to be gone. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }
}
