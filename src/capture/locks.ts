import { quoteTable } from '../db/pool.ts';
import type { InquiryPlan } from '../diff/plan.ts';

/**
 * `LOCK TABLE … IN ACCESS SHARE MODE` of every table the inquiries read, taken before a diff's
 * snapshot exists. TRUNCATE is not MVCC-safe: committed after the snapshot but before the first read,
 * it would show its tables empty to the diff. Locked first, it cannot commit in between.
 */
export function lockTablesSql(plans: InquiryPlan[]): string {
  const tables = new Set<string>();
  for (const plan of plans) {
    for (const t of plan.inquiry.tables) tables.add(quoteTable(t.info));
  }
  return `LOCK TABLE ${[...tables].join(', ')} IN ACCESS SHARE MODE`;
}
