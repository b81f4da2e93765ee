import { startWorker } from './worker-thread.ts';
import type { DeliveredMessage, DeliveryWorkerData, DeliveryWorkerMessage } from './delivery-worker.ts';

/**
 * Consumes primaryQueue on a worker thread (see delivery-worker.ts) and hands each delivered
 * message's row versions to `onDelivered`; resolves once the consumer is subscribed.
 */
export interface DeliveryConsumer {
  /** A deferred consumer subscribes now (see `deferred`); one already subscribed ignores it. */
  consume(): void;
  close(): Promise<void>;
}

/**
 * `deferred`: resolve once connected, and subscribe only at consume(): the messages wait in the
 * queue meanwhile, and reading them costs the machine nothing while the engine is being timed.
 */
export async function consumeInWorker(
  amqpUrl: string,
  queue: string,
  onDelivered: (message: DeliveredMessage) => void,
  deferred = false,
): Promise<DeliveryConsumer> {
  const worker = startWorker(new URL('./delivery-worker.ts', import.meta.url), { amqpUrl, queue, deferred } satisfies DeliveryWorkerData);
  let failure: Error | null = null;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (message: DeliveryWorkerMessage) => {
      if (message.kind === 'ready') resolve();
      else onDelivered(message);
    });
    worker.on('error', (err) => {
      failure = err;
      reject(err);
    });
    void exited.then(() => reject(failure ?? new Error('the delivery consumer thread ended before it subscribed')));
  });
  let consuming = !deferred;
  return {
    consume() {
      if (consuming) return;
      consuming = true;
      worker.postMessage('consume');
    },
    async close() {
      worker.postMessage('close');
      // A consumer that failed has exited already; one that hangs on close is ended.
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
