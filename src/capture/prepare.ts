import type { InstanceNames } from '../config/env.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { planInquiry, type InquiryPlan } from '../diff/plan.ts';
import { syncStates, type StateSync } from '../diff/state.ts';
import { serverHashesAsEngine } from '../diff/share-hash.ts';
import { findTableScans, type TableScan } from '../diff/table-scans.ts';
import type { CompiledInquiry } from '../inquiry/compile.ts';
import { applyViews } from '../inquiry/views.ts';
import type { Logger } from '../log.ts';
import { ensureOutbox } from '../outbox/outbox.ts';
import { ensurePublication, ensureSlot, replaceSlot, type SlotOrigin } from './publication.ts';
import { resyncStates } from './resync.ts';
import { tableKey } from './changes.ts';

/**
 * Everything capture needs before streaming, in the order that loses nothing: views, publication,
 * then the slot (changes from here on are kept), then states built from a snapshot taken after the
 * slot exists — a change is either in the starting state or arrives through the slot (or both,
 * which the diff turns into nothing). States kept from before whose changes the slot does not hold
 * in full are then diffed whole (see resyncStates): the slot is new, or the publication was missing
 * or no longer listed one of their tables for a while (changes then are never decoded for it).
 */
export interface PreparedCapture {
  plans: InquiryPlan[];
  states: StateSync;
  slot: SlotOrigin;
  /** Kept states brought up to date (see resyncStates): which, why, and into how many notifications. */
  resynced: { inquiries: string[]; reason: string; notifications: number } | null;
}

/** What a resync needs beyond the pool (see resyncStates). */
export interface ResyncSettings {
  company: string;
  maxNotificationBytes: number;
}

export async function prepareCapture(
  pool: Pool,
  names: InstanceNames,
  inquiries: CompiledInquiry[],
  logger: Logger,
  resync: ResyncSettings,
): Promise<PreparedCapture> {
  await inTransaction(pool, (client) => applyViews(client, inquiries, names.viewSchema));
  const readingWhole = await warnOfTableScans(pool, inquiries, logger);
  const publication = await ensurePublication(
    pool,
    names.publication,
    inquiries.flatMap((q) => q.tables.map((t) => ({ schema: t.info.schema, name: t.info.name }))),
  );
  let slot = await ensureSlot(pool, names.slot);
  let reason: string | null = slot === 'created' ? `replication slot ${names.slot} was missing` : null;
  if (slot === 'created') logger.info({ slot: names.slot }, 'replication slot created');
  if (slot === 'replaced') {
    reason = `replication slot ${names.slot} had been invalidated (more than max_slot_wal_keep_size behind)`;
    logger.warn({ slot: names.slot }, `${reason}: created anew`);
  }
  if (slot === 'existing' && publication.created) {
    // PostgreSQL 15 cannot decode past WAL written while the slot's publication did not exist
    // ("publication does not exist", at every start): only a slot starting now can stream.
    await replaceSlot(pool, names.slot);
    slot = 'replaced';
    reason = `publication ${names.publication} was missing`;
    logger.warn({ slot: names.slot, publication: names.publication }, `${reason}: created it, and the slot anew`);
  }
  await ensureOutbox(pool, names.stateSchema);
  const hashesAsEngine = await serverHashesAsEngine(pool);
  const plans = inquiries.map((q) =>
    planInquiry(q, names.viewSchema, names.stateSchema, { readsWhole: readingWhole.has(q.name), serverHashesAsEngine: hashesAsEngine }),
  );
  const states = await syncStates(pool, names.stateSchema, plans, logger);
  const kept = plans.filter((p) => states.kept.includes(p.inquiry.name));
  const unpublished = (p: InquiryPlan) => p.inquiry.tables.some((t) => publication.missing.has(tableKey(t.info)));
  const stale = slot === 'existing' ? kept.filter(unpublished) : kept;
  if (slot === 'existing' && stale.length > 0) {
    const read = new Set(stale.flatMap((p) => p.inquiry.tables.map((t) => tableKey(t.info))));
    const tables = [...publication.missing].filter((t) => read.has(t)).sort().join(', ');
    reason = `publication ${names.publication} no longer listed ${tables}`;
    logger.warn({ publication: names.publication, tables }, `${reason}: listed again`);
  }
  if (stale.length === 0 || reason === null) return { plans, states, slot, resynced: null };
  const staleNames = stale.map((p) => p.inquiry.name);
  logger.warn({ inquiries: staleNames }, 'these states miss changes no slot holds: comparing each whole with its current result');
  const made = await resyncStates({ ...resync, pool, stateSchema: names.stateSchema, plans: stale, logger });
  return { plans, states, slot, resynced: { inquiries: staleNames, reason, notifications: made.length } };
}

/**
 * Says which tables a diff by key reads whole (see findTableScans): each costs every batch that needs
 * it a scan, and the statements of its inquiry are planned with seq scans (see planFor). Returns the
 * names of those inquiries. The check only advises: one that fails (say, the role may not create
 * temporary views) is logged, and its inquiry is diffed as if every lookup had its index.
 */
async function warnOfTableScans(pool: Pool, inquiries: CompiledInquiry[], logger: Logger): Promise<Set<string>> {
  const client = await pool.connect();
  const readingWhole = new Set<string>();
  try {
    for (const inquiry of inquiries) {
      let found: TableScan[];
      try {
        found = await findTableScans(client, inquiry);
      } catch (err) {
        logger.warn({ inquiry: inquiry.name, err }, 'could not check whether the diffs of this inquiry look every row up by an index');
        continue;
      }
      if (found.length > 0) readingWhole.add(inquiry.name);
      for (const scan of found) {
        logger.warn(
          { inquiry: inquiry.name, table: scan.table, alias: scan.alias, rows: scan.rows, lookup: scan.purpose },
          'a diff of this inquiry reads a table whole for want of an index to look its rows up by: index the columns its join condition reads',
        );
      }
    }
  } finally {
    client.release();
  }
  return readingWhole;
}
