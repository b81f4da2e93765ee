import type { Pool } from '../src/db/pool.ts';
import { DeliveryTracker } from './stats.ts';
import { versionsOf } from './workload.ts';

/**
 * The baseline other systems use: re-run the whole inquiry, diff it against the previous result,
 * repeat (Hasura-style polling, back to back). Cost per round grows with the table, not the change.
 */
export class NaivePoller {
  private previous = new Map<string, string>();
  private running = false;
  private loop: Promise<void> | null = null;
  rounds = 0;
  roundMs: number[] = [];

  constructor(
    private readonly pool: Pool,
    private readonly sql: string,
    private readonly keyColumns: string[],
    private readonly tracker: DeliveryTracker,
  ) {}

  async prime(): Promise<void> {
    this.previous = await this.read();
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) await this.round();
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async read(): Promise<Map<string, string>> {
    const { rows } = await this.pool.query<Record<string, unknown>>(this.sql);
    return new Map(rows.map((r) => [this.keyColumns.map((k) => String(r[k])).join('|'), JSON.stringify(r)]));
  }

  private async round(): Promise<void> {
    const started = performance.now();
    const current = await this.read();
    const at = performance.now();
    for (const [key, row] of current) {
      if (this.previous.get(key) !== row) this.tracker.observe(versionsOf(JSON.parse(row) as Record<string, unknown>), at);
    }
    this.previous = current;
    this.rounds++;
    this.roundMs.push(performance.now() - started);
  }
}
