import { inTransaction, type Pool } from '../db/pool.ts';
import { cancellingInquiries, CREATE_DIFF_ROWS_SQL } from '../diff/diff-rows.ts';
import { diffRowsWritten, diffSql, type InquiryPlan } from '../diff/plan.ts';
import type { Logger } from '../log.ts';
import { ticksFromUnixMicros } from '../notification.ts';
import { assembleNotifications, type AssembledNotification } from '../outbox/assemble.ts';
import { diffSettingsSql } from './diff-sessions.ts';
import { lockTablesSql } from './locks.ts';

/**
 * Brings stored states up to date when changes reached no slot for a while (see prepareCapture): the
 * slot was dropped or invalidated and is new, or the publication was gone or no longer listed a
 * table. A state left as it was would drift from the result for good — a root changed then and never
 * again would never be reported. So each such inquiry is diffed whole, its entire stored state
 * against its entire current result, in one transaction whose snapshot is taken after the repair:
 * the net change of the gap goes to the outbox as notifications (in parts when big), which the relay
 * sends like any batch's. A change committed after the repair and before this snapshot is both in the
 * snapshot and in the slot, and diffs to nothing when it arrives.
 */
export interface ResyncOptions {
  pool: Pool;
  stateSchema: string;
  /** The inquiries whose states miss changes (kept from before: a state built just now is current). */
  plans: InquiryPlan[];
  company: string;
  maxNotificationBytes: number;
  logger: Logger;
}

export async function resyncStates(options: ResyncOptions): Promise<AssembledNotification[]> {
  if (options.plans.length === 0) return [];
  return inTransaction(
    options.pool,
    async (client) => {
      // As the diff sessions run, for this transaction only (a pool connection); its diffs are full ones.
      await client.query(`${diffSettingsSql('SET LOCAL', 'whole')}; ${CREATE_DIFF_ROWS_SQL}`);
      await client.query(lockTablesSql(options.plans));
      const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      let changed = 0;
      for (const plan of options.plans) {
        const started = Date.now();
        const rows = diffRowsWritten(await client.query(diffSql(plan, 'all')));
        changed += rows;
        options.logger.info({ inquiry: plan.inquiry.name, rows, ms: Date.now() - started }, 'state compared whole with the current result');
      }
      if (changed === 0) return [];
      return assembleNotifications(
        [client],
        options.stateSchema,
        { companyJson: JSON.stringify(options.company), ticks: ticksFromUnixMicros(BigInt(Date.now()) * 1000n), lsn: rows[0]!.lsn },
        options.maxNotificationBytes,
        cancellingInquiries(options.plans),
      );
    },
    'BEGIN ISOLATION LEVEL REPEATABLE READ',
  );
}
