import type { Pool } from '../db/pool.ts';
import { recordEvent, type SystemEvent } from '../monitor/events.ts';

/**
 * System events about webhooks, at most one per cause per window. A storefront that keeps calling
 * (retries of a rejected hook, hooks of an entity whose sync was stopped) would otherwise write a row
 * per request; an operator needs to learn that it happens, not each time. The first event of a cause
 * is written at once; later ones inside the window are counted, and the next event written for that
 * cause says how many there were. Every request is still in the log.
 */
const MAX_KEYS = 1000;

export class EventThrottle {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly options: { pool: Pool; tenant: string; windowMs: number }) {}

  record(key: string, event: SystemEvent): void {
    const now = Date.now();
    const entry = this.seen.get(key);
    if (entry && entry.until > now) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.forgetExpired(now);
    this.seen.set(key, { until: now + this.options.windowMs, suppressed: 0 });
    const written = suppressed === 0 ? event : {
      ...event,
      message: `${event.message} (${suppressed} more like this since the previous event)`,
      details: { ...event.details, suppressed },
    };
    // recordEvent never throws (it logs a failed write), so nothing here can go unhandled.
    const writing = recordEvent(this.options.pool, written, this.options.tenant).finally(() => this.writing.delete(writing));
    this.writing.add(writing);
  }

  /** Waits for the event writes in flight (before the pool is closed). */
  async flush(): Promise<void> {
    await Promise.all([...this.writing]);
  }

  // Keys are bounded by stores × entities × causes; the cap only guards against a surprise.
  private forgetExpired(now: number): void {
    if (this.seen.size < MAX_KEYS) return;
    for (const [key, entry] of this.seen) if (entry.until <= now) this.seen.delete(key);
  }
}
