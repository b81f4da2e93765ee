import type { InstanceNames } from '../config/env.ts';
import { inTransaction, type Pool } from '../db/pool.ts';
import { planInquiry, type InquiryPlan } from '../diff/plan.ts';
import { syncStates, type StateSync } from '../diff/state.ts';
import type { CompiledInquiry } from '../inquiry/compile.ts';
import { applyViews } from '../inquiry/views.ts';
import type { Logger } from '../log.ts';
import { ensureOutbox } from '../outbox/outbox.ts';
import { ensurePublication, ensureSlot } from './publication.ts';

/**
 * Everything capture needs before streaming, in the order that loses nothing: views, publication,
 * then the slot (changes from here on are kept), then states built from a snapshot taken after the
 * slot exists — a change is either in the starting state or arrives through the slot (or both,
 * which the diff turns into nothing).
 */
export interface PreparedCapture {
  plans: InquiryPlan[];
  states: StateSync;
  slot: 'created' | 'existing';
}

export async function prepareCapture(
  pool: Pool,
  names: InstanceNames,
  inquiries: CompiledInquiry[],
  logger: Logger,
): Promise<PreparedCapture> {
  await inTransaction(pool, (client) => applyViews(client, inquiries, names.viewSchema));
  await ensurePublication(
    pool,
    names.publication,
    inquiries.flatMap((q) => q.tables.map((t) => ({ schema: t.info.schema, name: t.info.name }))),
  );
  const slot = await ensureSlot(pool, names.slot);
  if (slot === 'created') logger.info({ slot: names.slot }, 'replication slot created');
  await ensureOutbox(pool, names.stateSchema);
  const plans = inquiries.map((q) => planInquiry(q, names.viewSchema, names.stateSchema));
  const states = await syncStates(pool, names.stateSchema, plans, logger);
  return { plans, states, slot };
}
