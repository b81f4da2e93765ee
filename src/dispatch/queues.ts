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
