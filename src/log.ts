import { pino, type Logger } from 'pino';
import { PushcdcError } from './errors.ts';

/**
 * One process-wide logger; library code takes a child with its scope (`{inquiry}`, `{destination}`,
 * `{lsn}`) instead of printing. Logs go to stderr so CLI output on stdout stays machine-readable.
 */
export type { Logger };

/** PUSHCDC_LOG_LEVEL, checked here (the logger exists before the environment is loaded): a bad one names the variable. */
function logLevel(): string {
  const wanted = process.env.PUSHCDC_LOG_LEVEL;
  if (wanted === undefined || wanted === '') return process.env.VITEST ? 'warn' : 'info';
  const levels = [...Object.keys(pino.levels.values), 'silent'];
  if (!levels.includes(wanted)) {
    throw new PushcdcError('CONFIG', `environment variable PUSHCDC_LOG_LEVEL=${JSON.stringify(wanted)}: must be one of ${levels.join(', ')}`);
  }
  return wanted;
}

export const rootLogger: Logger = pino(
  {
    name: 'pushcdc',
    level: logLevel(),
    base: undefined,
  },
  pino.destination({ fd: 2, sync: false }),
);

export function scopedLogger(scope: Record<string, unknown>): Logger {
  return rootLogger.child(scope);
}
