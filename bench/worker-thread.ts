import { Worker } from 'node:worker_threads';

/**
 * Runs a bench module (`module`, its URL) on a thread of its own, `data` as its workerData. The
 * thread starts at worker.mjs, which registers tsx's loader and imports the module.
 */
export function startWorker(module: URL, data: object): Worker {
  return new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { ...data, module: module.href } });
}
