import type { InstanceNames } from '../config/env.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { planInquiry, type InquiryPlan } from '../diff/plan.ts';
import { syncStates, type StateSync } from '../diff/state.ts';
import type { CompiledInquiry } from '../inquiry/compile.ts';
import { applyViews } from '../inquiry/views.ts';
import type { Logger } from '../log.ts';
import { ensureOutbox } from '../outbox/outbox.ts';
import { ensurePublication, ensureSlot, type SlotOrigin } from './publication.ts';
import { resyncStates } from './resync.ts';

/**
 * Everything capture needs before streaming, in the order that loses nothing: views, publication,
 * then the slot (changes from here on are kept), then states built from a snapshot taken after the
 * slot exists — a change is either in the starting state or arrives through the slot (or both,
 * which the diff turns into nothing). A slot new under states kept from before is followed by a
 * whole diff of those states (see resyncStates).
 */
export interface PreparedCapture {
  plans: InquiryPlan[];
  states: StateSync;
  slot: SlotOrigin;
  /** Kept states brought up to date because the slot is new (see resyncStates), and how. */
  resynced: { inquiries: string[]; notifications: number } | null;
}

/** What a resync needs beyond the pool (see resyncStates). */
export interface ResyncSettings {
  databaseUrl: string;
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
  await ensurePublication(
    pool,
    names.publication,
    inquiries.flatMap((q) => q.tables.map((t) => ({ schema: t.info.schema, name: t.info.name }))),
  );
  const slot = await ensureSlot(pool, names.slot);
  if (slot === 'created') logger.info({ slot: names.slot }, 'replication slot created');
  if (slot === 'replaced') {
    logger.warn({ slot: names.slot }, 'the replication slot had been invalidated (it fell more than max_slot_wal_keep_size behind): created anew');
  }
  await ensureOutbox(pool, names.stateSchema);
  const plans = inquiries.map((q) => planInquiry(q, names.viewSchema, names.stateSchema));
  const states = await syncStates(pool, names.stateSchema, plans, logger);
  const kept = plans.filter((p) => states.kept.includes(p.inquiry.name));
  if (slot === 'existing' || kept.length === 0) return { plans, states, slot, resynced: null };
  const keptNames = kept.map((p) => p.inquiry.name);
  logger.warn({ inquiries: keptNames }, 'the slot is new but these states are older: comparing each whole with its current result');
  const made = await resyncStates({ ...resync, stateSchema: names.stateSchema, plans: kept, logger });
  return { plans, states, slot, resynced: { inquiries: keptNames, notifications: made.length } };
}
