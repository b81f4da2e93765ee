/**
 * Reconnect delays: exponential, capped, with "equal jitter" (half fixed, half random) so that many
 * processes losing the same broker at once do not all knock on its door in the same millisecond,
 * while no retry comes sooner than half the nominal delay.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 15_000 };

/** Delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const nominal = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(nominal / 2 + (Math.random() * nominal) / 2);
}
