import type { Pool } from '../db/pool.ts';
import { rootLogger } from '../log.ts';

/**
 * System events (SPEC section 8, the ERP's System Events tab): what an operator should see without
 * reading logs. Writing one never throws — a failing event write must not turn a handled error into
 * an unhandled one — but it is logged.
 */
export type EventLevel = 'information' | 'warning' | 'error' | 'fatal';
export type EventSource = 'capture' | 'push-notifications' | 'commerce' | 'webhooks' | 'engine';

export interface SystemEvent {
  level: EventLevel;
  source: EventSource;
  message: string;
  details?: Record<string, unknown>;
}

export async function recordEvent(pool: Pool, event: SystemEvent, tenant?: string): Promise<void> {
  const log = rootLogger.child({ source: event.source });
  const method = event.level === 'information' ? 'info' : event.level === 'warning' ? 'warn' : 'error';
  log[method](event.details ?? {}, event.message);
  try {
    await pool.query(
      'INSERT INTO pushcdc.system_events (level, source, message, tenant, details) VALUES ($1, $2, $3, $4, $5)',
      [event.level, event.source, event.message, tenant ?? null, event.details ? JSON.stringify(event.details) : null],
    );
  } catch (err) {
    log.error({ err }, 'could not record system event');
  }
}
