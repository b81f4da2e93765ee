import { randomUUID } from 'node:crypto';
import type { Lsn } from './lsn.ts';
import type { StreamHold } from './stream-hold.ts';

/**
 * A batch's barrier: a logical message written into the WAL after the batch's snapshot was taken.
 * Once the stream brings it back, every transaction the snapshot sees has arrived (see CaptureLoop).
 */
export class BatchBarrier {
  private waiting: { token: string; resolve(lsn: Lsn): void } | null = null;

  constructor(
    private readonly hold: StreamHold,
    private readonly timeoutMs: number,
  ) {}

  /** Writes a barrier with `emit` and resolves with its LSN once the stream brought it back. */
  async cross(emit: (token: string) => Promise<void>): Promise<Lsn> {
    const token = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<Lsn>((resolve, reject) => {
      // Time the stream spent held back (an early diff taking long) does not count: the barrier
      // cannot arrive while we are not reading.
      const expire = () => {
        if (this.hold.heldWithin(this.timeoutMs)) {
          timer = setTimeout(expire, this.timeoutMs);
          return;
        }
        reject(new Error(`the batch barrier did not come back through the slot within ${this.timeoutMs} ms`));
      };
      timer = setTimeout(expire, this.timeoutMs);
      this.waiting = { token, resolve };
    });
    try {
      await emit(token);
      return await arrived;
    } finally {
      // Also when the barrier could not be written: no timer left to reject a wait nobody awaits.
      clearTimeout(timer);
      this.waiting = null;
    }
  }

  /** A barrier came through the stream: true when it is the one awaited (which now resolves). */
  arrived(token: string, lsn: Lsn): boolean {
    if (this.waiting?.token !== token) return false;
    this.waiting.resolve(lsn);
    return true;
  }

  /**
   * The wait ends at once, with LSN -1: capture failed (the caller checks for the failure), or the
   * batch closed before its barrier came (which then arrives unawaited, and is ignored).
   */
  abort(): void {
    this.waiting?.resolve(-1n);
  }
}
