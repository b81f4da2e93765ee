import pg from 'pg';
import { diffSettingsSql } from '../../src/capture/diff-sessions.ts';
import { inTransaction } from '../../src/db/pool.ts';
import { CREATE_DIFF_ROWS_SQL } from '../../src/diff/diff-rows.ts';
import { planInquiry, type InquiryPlan } from '../../src/diff/plan.ts';
import { syncStates } from '../../src/diff/state.ts';
import { loadInquiriesOrThrow } from '../../src/inquiry/load.ts';
import { applyViews } from '../../src/inquiry/views.ts';
import { rootLogger } from '../../src/log.ts';
import type { TestContext } from './isolation.ts';

/**
 * For tests of the diff statements themselves, without a slot or a capture loop: the inquiries in
 * `dir` compiled, their views created and their states built from the current rows (in file order).
 */
export async function plansWithState(ctx: TestContext, dir: string): Promise<InquiryPlan[]> {
  const { inquiries } = await loadInquiriesOrThrow(ctx.pool, dir);
  await inTransaction(ctx.pool, (c) => applyViews(c, inquiries, ctx.names.viewSchema));
  const plans = inquiries.map((i) => planInquiry(i, ctx.names.viewSchema, ctx.names.stateSchema));
  await syncStates(ctx.pool, ctx.names.stateSchema, plans, rootLogger);
  return plans;
}

/** A connection set up as capture's diff sessions are: their settings and a diff-rows table. */
export async function diffSession(ctx: TestContext): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: ctx.db.url });
  await client.connect();
  await client.query(`${diffSettingsSql('SET')}; ${CREATE_DIFF_ROWS_SQL}`);
  return client;
}
