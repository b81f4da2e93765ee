import type { Command } from 'commander';
import type { EventLevel } from '../monitor/events.ts';
import { PushcdcError } from '../errors.ts';
import { parseLimit } from './history.ts';
import { withContext, type DirOption } from './context.ts';
import { printJson, printTable } from './output.ts';

interface EventsOptions extends DirOption {
  level?: string;
  source?: string;
  limit?: string;
  json?: boolean;
}

const LEVELS: readonly EventLevel[] = ['information', 'warning', 'error', 'fatal'];

export function parseLevel(value: string | undefined): EventLevel | undefined {
  if (value === undefined) return undefined;
  const level = LEVELS.find((l) => l === value);
  if (!level) throw new PushcdcError('USAGE', `--level "${value}" is not an event level; use one of: ${LEVELS.join(', ')}`);
  return level;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('system events, newest first')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--level <level>', `only this level: ${LEVELS.join(', ')}`)
    .option('--source <source>', 'only this source (capture, push-notifications, commerce, webhooks, engine)')
    .option('--limit <n>', 'at most this many events (default 100)')
    .option('--json', 'print JSON')
    .action(async (options: EventsOptions) => {
      const level = parseLevel(options.level);
      const limit = parseLimit(options.limit);
      await withContext(options, async (ctx) => {
        const { rows } = await ctx.pool.query<Record<string, unknown>>(
          `SELECT at, level, source, tenant, message, details
             FROM pushcdc.system_events
            WHERE ($1::text IS NULL OR level = $1) AND ($2::text IS NULL OR source = $2)
            ORDER BY at DESC, id DESC
            LIMIT $3`,
          [level ?? null, options.source ?? null, limit],
        );
        if (options.json) printJson(rows);
        else printTable(rows, ['at', 'level', 'source', 'tenant', 'message']);
      });
    });
}
