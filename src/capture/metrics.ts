import { Counter, Gauge, Histogram, register } from 'prom-client';

/** Capture metrics, in prom-client's default registry (served at /metrics). */
export const batchesTotal = new Counter({
  name: 'pushcdc_capture_batches_total',
  help: 'Batches committed (diff state and outbox in one transaction)',
  registers: [register],
});

export const transactionsTotal = new Counter({
  name: 'pushcdc_capture_transactions_total',
  help: 'Source transactions covered by committed batches',
  registers: [register],
});

export const notificationsTotal = new Counter({
  name: 'pushcdc_capture_notifications_total',
  help: 'Notifications written to the outbox',
  registers: [register],
});

export const batchSeconds = new Histogram({
  name: 'pushcdc_capture_batch_seconds',
  help: 'From opening the batch snapshot to acknowledging its WAL position',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [register],
});

export const confirmedLsnBytes = new Gauge({
  name: 'pushcdc_capture_confirmed_lsn_bytes',
  help: 'WAL position confirmed to the replication slot, as a byte offset',
  registers: [register],
});

export const earlyDiffsTotal = new Counter({
  name: 'pushcdc_capture_early_diffs_total',
  help: 'Diffs run while a batch waited for its barrier (a backlog being decoded)',
  registers: [register],
});

export const boundedBatchesTotal = new Counter({
  name: 'pushcdc_capture_bounded_batches_total',
  help: 'Batches committed before their barrier came, once their early diffs had taken maxKeysPerBatch keys (a backlog drained batch by batch)',
  registers: [register],
});

export const streamPausesTotal = new Counter({
  name: 'pushcdc_capture_stream_pauses_total',
  help: 'Times the replication stream stopped reading because too many committed keys waited for a diff',
  registers: [register],
});

export const rootsSkippedTotal = new Counter({
  name: 'pushcdc_capture_roots_skipped_total',
  help: 'Roots touched again after the batch had diffed them (in its snapshot there is nothing new): not diffed twice',
  registers: [register],
});

export const sharedBatchesTotal = new Counter({
  name: 'pushcdc_capture_shared_batches_total',
  help: 'Batches diffed by several sessions at once, each its share of the roots (a backlog, a big transaction)',
  registers: [register],
});

export const assistedDiffsTotal = new Counter({
  name: 'pushcdc_capture_assisted_diffs_total',
  help: 'Diffs of one session helped by the other diff sessions, which compared part of the roots for it to write',
  registers: [register],
});

export const comparedAheadTotal = new Counter({
  name: 'pushcdc_capture_compared_ahead_total',
  help: 'Batches whose rest the other diff sessions began comparing while the main session still ran an early diff (the barrier had come)',
  registers: [register],
});
