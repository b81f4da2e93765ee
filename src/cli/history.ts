import type { Command } from 'commander';
import { SYNC_STATUSES, type SyncStatusValue } from '../commerce/sync-status.ts';
import { PushcdcError } from '../errors.ts';
import { withContext, type DirOption } from './context.ts';
import { printJson, printTable } from './output.ts';

interface HistoryOptions extends DirOption {
  store?: string;
  entity?: string;
  status?: string;
  limit?: string;
  json?: boolean;
}

export function parseStatus(value: string | undefined): SyncStatusValue | undefined {
  if (value === undefined) return undefined;
  const status = SYNC_STATUSES.find((s) => s === value);
  if (!status) throw new PushcdcError('USAGE', `--status "${value}" is not a sync status; use one of: ${SYNC_STATUSES.join(', ')}`);
  return status;
}

export function parseLimit(value: string | undefined): number {
  if (value === undefined) return 100;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new PushcdcError('USAGE', `--limit "${value}" must be a whole number of at least 1`);
  return Number(value);
}

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('sync history (rows of pushcdc.sync_status), newest first')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--store <store>', 'only this store')
    .option('--entity <entity>', 'only this entity')
    .option('--status <status>', `only this status: ${SYNC_STATUSES.join(', ')}`)
    .option('--limit <n>', 'at most this many rows, newest first (default 100)')
    .option('--json', 'print JSON')
    .action(async (options: HistoryOptions) => {
      // Usage errors before touching the database: a typo should not wait on a connection.
      const status = parseStatus(options.status);
      const limit = parseLimit(options.limit);
      await withContext(options, async (ctx) => {
        const { rows } = await ctx.pool.query<Record<string, unknown>>(
          `SELECT store, entity, local_id, extern_id, extern_description, status, direction, last_operation, last_error,
                  attempt_count, pending_sync, sync_in_process, local_ts, extern_ts, extern_hash, last_attempt_at, updated_at
             FROM pushcdc.sync_status
            WHERE ($1::text IS NULL OR store = $1) AND ($2::text IS NULL OR entity = $2) AND ($3::text IS NULL OR status = $3)
            ORDER BY updated_at DESC, id DESC
            LIMIT $4`,
          [options.store ?? null, options.entity ?? null, status ?? null, limit],
        );
        if (options.json) printJson(rows);
        else
          printTable(rows, ['updated_at', 'store', 'entity', 'local_id', 'extern_id', 'status', 'attempt_count', 'last_operation', 'last_error']);
      });
    });
}
