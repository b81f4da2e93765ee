import { streamPausesTotal } from './metrics.ts';

/**
 * Backpressure on the replication stream: while held, capture reads nothing more, the walsender blocks
 * on a full socket, and changes wait in the WAL instead of in the engine's memory.
 */
export class StreamHold {
  private isHeld = false;
  private resumedAt = 0;

  constructor(private readonly stream: { pause(): void; resume(): void }) {}

  get held(): boolean {
    return this.isHeld;
  }

  /** Pauses or resumes reading, counting pauses. */
  set(hold: boolean): void {
    if (hold === this.isHeld) return;
    this.isHeld = hold;
    if (hold) {
      streamPausesTotal.inc();
      this.stream.pause();
    } else {
      this.resumedAt = Date.now();
      this.stream.resume();
    }
  }

  /** Whether the stream is held, or was within the last `ms`: nothing could be read meanwhile. */
  heldWithin(ms: number): boolean {
    return this.isHeld || Date.now() - this.resumedAt < ms;
  }
}
