import type pg from 'pg';
import { applyCompared, claimRootsAhead, compareRoots, diffRootsIn, type DiffedRoots, type DiffLimits } from '../diff/diff.ts';
import type { InquiryPlan } from '../diff/plan.ts';
import type { TouchedTable } from './accumulator.ts';
import { comparedAheadTotal } from './metrics.ts';

/** Roots per piece of the work: small enough that the main session, once free, finds some left. */
const CHUNK_ROOTS = 2_500;

interface Chunk {
  plan: InquiryPlan;
  roots: string[][];
}

/**
 * The rest of a batch, diffed while the batch's last early diff still runs. When the barrier arrives
 * during an early diff, every key of the batch is in, but the main session is busy, often for
 * hundreds of milliseconds (a first early diff of 14,000 join keys ran 430-490 ms past the barrier),
 * and the assistants sat idle. Now they start at once: they find the rest's roots, claim them (see
 * DiffedRoots) and compare them piece by piece in the batch's snapshot; the main session, once its
 * own diff is done, diffs the pieces no assistant has taken yet and then writes what they compared.
 * Every write stays in the main session, so the batch still leaves as one notification.
 *
 * Exact for the same reason as an assisted diff: a claimed root is compared by one session only, and
 * no session writes a root another one reads (the state rows of a root are its own).
 */
export class DiffAhead {
  private readonly chunks: Chunk[] = [];
  private readonly compared: { chunk: Chunk; arrays: unknown[] }[] = [];
  /** The inquiries whose roots were claimed here; the others are left to the main session's diff. */
  private readonly handled = new Set<InquiryPlan>();
  private readonly found: Promise<void>;
  private readonly helping: Promise<void>;

  constructor(
    assistants: pg.Client[],
    plans: InquiryPlan[],
    /** The batch's remaining keys, every one of them (the barrier came). */
    readonly touched: Map<string, TouchedTable>,
    limits: DiffLimits,
    private readonly diffedFor: (plan: InquiryPlan) => DiffedRoots,
  ) {
    this.found = (async () => {
      for (const plan of plans) {
        const roots = await claimRootsAhead(assistants, plan, touched, limits, diffedFor(plan));
        if (roots === null) continue;
        this.handled.add(plan);
        for (let i = 0; i < roots.length; i += CHUNK_ROOTS) this.chunks.push({ plan, roots: roots.slice(i, i + CHUNK_ROOTS) });
      }
    })();
    this.helping = this.found.then(() =>
      Promise.all(
        assistants.map(async (assistant) => {
          for (let chunk = this.chunks.shift(); chunk; chunk = this.chunks.shift()) {
            if (this.recomputed(chunk.plan)) continue;
            this.compared.push({ chunk, arrays: await compareRoots(assistant, chunk.plan, chunk.roots) });
          }
        }),
      ).then(() => undefined),
    );
    // Awaited in finish(), or dropped with the batch: never an unhandled rejection meanwhile.
    this.helping.catch(() => undefined);
    comparedAheadTotal.inc();
  }

  /**
   * In the main session, once it is free: diffs the pieces left, writes what the assistants compared.
   * Returns the diff rows written and the inquiries done (the others still need a diff of `touched`).
   */
  async finish(main: pg.Client): Promise<{ rows: number; handled: Set<InquiryPlan> }> {
    await this.found;
    let rows = 0;
    for (let chunk = this.chunks.shift(); chunk; chunk = this.chunks.shift()) {
      if (!this.recomputed(chunk.plan)) rows += await diffRootsIn(main, chunk.plan, chunk.roots);
    }
    await this.helping;
    for (const { chunk, arrays } of this.compared) {
      if (!this.recomputed(chunk.plan)) rows += await applyCompared(main, chunk.plan, arrays, chunk.roots.length);
    }
    return { rows, handled: this.handled };
  }

  /**
   * Whether the early diff running meanwhile turned out to be a full one (its keys were found to
   * reach too many roots): it diffed every root, claimed here or not, and what was compared is stale.
   */
  private recomputed(plan: InquiryPlan): boolean {
    return this.diffedFor(plan).everything;
  }
}
