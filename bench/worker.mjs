// The entry of the bench's worker threads (see worker-thread.ts): workerData.module names the module
// the thread runs. A worker thread does not inherit tsx's loader from the thread
// that starts it, so it registers the loader itself, as bin/pushcdc.js does.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
