import { errorMessage } from '../errors.ts';

/**
 * The delivery policy of SPEC section 6: up to 5 attempts, waiting 1×, 2×, 4×, 8× the base delay
 * between them, each wait jittered by ±25% so many notifications failing together do not retry in
 * lock step against a receiver that is coming back.
 */
export const MAX_ATTEMPTS = 5;

export type AttemptOutcome = { ok: true; attempts: number } | { ok: false; attempts: number; error: string; aborted: boolean };

export function backoffDelay(baseMs: number, failedAttempts: number, random: () => number = Math.random): number {
  const nominal = baseMs * 2 ** (failedAttempts - 1);
  return Math.round(nominal * (0.75 + random() * 0.5));
}

/**
 * Tries `attempt` until it resolves or MAX_ATTEMPTS have failed. An aborted `signal` (the dispatcher
 * stopping) ends the waits early: the outcome is then `aborted`, and the caller gives the message
 * back to the queue instead of storing it as failed.
 */
export async function withRetries(
  attempt: () => Promise<void>,
  options: { baseDelayMs: number; signal: AbortSignal; onRetry?: (attempt: number, error: string) => void },
): Promise<AttemptOutcome> {
  let lastError = '';
  for (let n = 1; n <= MAX_ATTEMPTS; n++) {
    if (options.signal.aborted) return { ok: false, attempts: n - 1, error: lastError || 'stopped', aborted: true };
    try {
      await attempt();
      return { ok: true, attempts: n };
    } catch (err) {
      lastError = errorMessage(err);
    }
    if (n === MAX_ATTEMPTS) break;
    options.onRetry?.(n, lastError);
    await sleep(backoffDelay(options.baseDelayMs, n), options.signal);
  }
  return { ok: false, attempts: MAX_ATTEMPTS, error: lastError, aborted: false };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
