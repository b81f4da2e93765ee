/**
 * The replication socket read in chunks rather than message by message. The walsender sends every
 * pgoutput message as soon as it is decoded, one send() each; read as they come, each wakes the
 * engine's thread for a socket read, a parse of a few messages and the callbacks behind them, and
 * each send() wakes a thread that sleeps. Pausing the socket for a millisecond after each read lets
 * the kernel gather the messages that arrive meanwhile into the next read. Measured over 20,000 row
 * updates streamed from a slot, three each way, interleaved: the engine's CPU 132-163 → 35-42 ms,
 * and the walsender, no longer waking a reader per message, decoded them at 118k-133k changes/s
 * instead of 91k-102k. Longer pauses fill the socket's buffer and the walsender waits: 3 ms halved
 * the rate, 10 ms quartered it. A live change waits at most that millisecond longer.
 *
 * A read that filled the read buffer (64 KiB: libuv's chunk) means more is waiting: no pause then.
 * An outside hold (see StreamHold) keeps the socket paused until released, whatever the pacing.
 */
export interface PausableSocket {
  pause(): void;
  resume(): void;
  on(event: 'data', listener: (chunk: Buffer) => void): void;
  off(event: 'data', listener: (chunk: Buffer) => void): void;
}

/** The pause after a read (ms). */
export const READ_PAUSE_MS = 1;
/** A read this big found more waiting: reading on at once keeps the walsender from blocking. */
const FULL_READ_BYTES = 64 * 1024;

export class ReadPacing {
  private held = false;
  private pausing: NodeJS.Timeout | null = null;
  private readonly onData = (chunk: Buffer) => this.afterRead(chunk.length);

  constructor(
    private readonly socket: PausableSocket,
    private readonly pauseMs = READ_PAUSE_MS,
  ) {
    socket.on('data', this.onData);
  }

  /** Held from outside (backpressure): reads nothing until released. */
  hold(): void {
    this.held = true;
    this.socket.pause();
  }

  release(): void {
    this.held = false;
    if (this.pausing === null) this.socket.resume();
  }

  /**
   * Stops pacing: no timer is left behind, and the socket reads on unless held (a connection that
   * closes must still read the server's goodbye).
   */
  stop(): void {
    this.socket.off('data', this.onData);
    if (this.pausing === null) return;
    clearTimeout(this.pausing);
    this.pausing = null;
    if (!this.held) this.socket.resume();
  }

  private afterRead(bytes: number): void {
    if (this.pausing !== null || bytes >= FULL_READ_BYTES) return;
    this.socket.pause();
    this.pausing = setTimeout(() => {
      this.pausing = null;
      if (!this.held) this.socket.resume();
    }, this.pauseMs);
  }
}
