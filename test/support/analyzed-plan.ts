/** A node of `EXPLAIN (ANALYZE, FORMAT JSON)`, as far as the tests read it. */
export interface AnalyzedPlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: AnalyzedPlanNode[];
}
