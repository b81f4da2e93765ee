import { pino, type Logger } from 'pino';

/**
 * One process-wide logger; library code takes a child with its scope (`{inquiry}`, `{destination}`,
 * `{lsn}`) instead of printing. Logs go to stderr so CLI output on stdout stays machine-readable.
 */
export type { Logger };

export const rootLogger: Logger = pino(
  {
    name: 'pushcdc',
    level: process.env.PUSHCDC_LOG_LEVEL ?? (process.env.VITEST ? 'warn' : 'info'),
    base: undefined,
  },
  pino.destination({ fd: 2, sync: false }),
);

export function scopedLogger(scope: Record<string, unknown>): Logger {
  return rootLogger.child(scope);
}
