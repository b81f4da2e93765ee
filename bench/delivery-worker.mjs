// The delivery consumer thread's entry (see delivery-worker.ts). A worker thread does not inherit
// tsx's loader from the thread that starts it, so it registers the loader itself, as bin/pushcdc.js does.
import { register } from 'tsx/esm/api';

register();
await import('./delivery-worker.ts');
