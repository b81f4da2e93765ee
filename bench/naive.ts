import type { Worker } from 'node:worker_threads';
import type { DeliveryTracker } from './stats.ts';
import type { NaiveWorkerData, NaiveWorkerMessage } from './naive-worker.ts';
import { startWorker } from './worker-thread.ts';

/**
 * The baseline other systems use: re-run the whole inquiry, diff it against the previous result,
 * repeat (Hasura-style polling, back to back). Cost per round grows with the table, not the change.
 * The rounds run on a thread of their own (see naive-worker.ts); each round's changed rows count as
 * seen when its read returned.
 */
export class NaivePoller {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly stopped: Promise<void>;
  rounds = 0;
  roundMs: number[] = [];

  constructor(databaseUrl: string, sql: string, keyColumns: string[], tracker: DeliveryTracker) {
    this.worker = startWorker(new URL('./naive-worker.ts', import.meta.url), { databaseUrl, sql, keyColumns } satisfies NaiveWorkerData);
    const failed = new Promise<never>((_, reject) => {
      this.worker.once('error', reject);
      this.worker.once('exit', () => reject(new Error('the naive baseline thread ended unasked')));
    });
    failed.catch(() => undefined);
    let ready!: () => void;
    let stopped!: () => void;
    this.ready = Promise.race([new Promise<void>((resolve) => (ready = resolve)), failed]);
    this.stopped = Promise.race([new Promise<void>((resolve) => (stopped = resolve)), failed]);
    this.worker.on('message', (message: NaiveWorkerMessage) => {
      if (message.kind === 'ready') ready();
      else if (message.kind === 'stopped') stopped();
      else {
        // From the epoch to this thread's performance.now(), which the workload's commit times use.
        tracker.observe(message.versions, message.at - performance.timeOrigin);
        this.rounds++;
        this.roundMs.push(message.ms);
      }
    });
  }

  /** Resolves once the thread has read the starting result. */
  async prime(): Promise<void> {
    await this.ready;
  }

  start(): void {
    this.worker.postMessage('start');
  }

  /** Ends the rounds after the one under way, and the thread. */
  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await this.stopped;
    await this.worker.terminate();
  }
}
