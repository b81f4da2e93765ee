/**
 * Each destination's own durable queue, beside the instance's primaryQueue:
 * `primaryQueue.<instance>.<destination>`. Destination names are letters, digits and `_ . -`, so the
 * name is always a valid queue name.
 */
export function destinationQueue(primaryQueue: string, destination: string): string {
  return `${primaryQueue}.${destination}`;
}

/** Fan-out batch and window sizes: enough to amortise publisher confirms, small enough to stay in memory. */
export const PRIMARY_PREFETCH = 256;
export const DESTINATION_PREFETCH = 32;

/**
 * Whether primaryQueue is a single-active-consumer queue. Every user of a queue must declare it the
 * same way, and the capture role (its owner) declares it plainly, so the dispatcher does too. That
 * keeps strict per-inquiry order with one dispatch role per instance; with several, their fan-outs
 * would compete and could interleave an inquiry's notifications. Turning this on (here, in the capture
 * role and in test/support/queue-reader.ts together) makes extra dispatchers hot standbys instead.
 */
export const PRIMARY_SINGLE_ACTIVE = false;
