import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CRASH_CONSUMER = fileURLToPath(new URL('./crash-consumer.ts', import.meta.url));

/** Starts crash-consumer.ts and resolves once it holds its messages; the caller kills it. */
export function spawnHoldingConsumer(args: string[], timeoutMs = 30_000): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CRASH_CONSUMER, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PUSHCDC_LOG_LEVEL: 'error' },
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash consumer did not report HOLDING within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('HOLDING')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`crash consumer exited early (${code}); output:\n${output}`));
    });
  });
}

/** SIGKILL: no close handshake, no cleanup, the way a crashed or OOM-killed process goes. */
export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
