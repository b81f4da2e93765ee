import type { Broker, OutgoingMessage } from '../broker/broker.ts';
import type { Pool } from '../db/pool.ts';
import { rawBytesQuery } from '../db/raw-bytes.ts';
import type { Logger } from '../log.ts';
import { outboxTable } from './outbox.ts';

/**
 * Publishes outbox rows to primaryQueue in commit order, with publisher confirms, then deletes them.
 * A crash between the confirm and the delete sends those rows again with their stored Id, which
 * receivers use to drop repeats. A broker outage only grows the outbox; the relay retries.
 */
const BATCH = 500;
/** Payload bytes per round: a batch of big notifications (parts of a huge diff) stays bounded. */
const BATCH_BYTES = 4 * 1024 * 1024;
const IDLE_POLL_MS = 1000;
/**
 * Payload bytes handed over (see offer) the relay keeps at most: past it, offers are declined and
 * those rows are read from the outbox. Bounds the relay's memory while the broker is away.
 */
const MAX_HANDED_BYTES = 32 * 1024 * 1024;

/** An outbox row, handed to the relay by the batch that committed it: its payload, when it could be. */
export interface HandedPayload {
  seq: string;
  inquiry: string;
  notificationId: string;
  body: Buffer | null;
}

/** A handed-over row ready to publish. */
type HandedRow = HandedPayload & { body: Buffer };

export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  /** The last seq the broker confirmed, and the last deleted: confirmed rows are never sent twice by one relay. */
  private sentUpTo: string | null = null;
  private deletedUpTo: string | null = null;
  /** The last seq a round has read: a payload handed over for a row up to it comes too late. */
  private readUpTo: string | null = null;
  /** Rows handed over (see offer), by seq, until a round takes them. */
  private readonly handed = new Map<string, HandedRow>();
  private handedBytes = 0;
  /**
   * Whether every outbox row committed after readUpTo is among the rows handed over: then a round
   * takes them without reading the outbox (see readRound). Set by a read that found the outbox sent
   * to its end; lost with any row committed without its payload handed over.
   */
  private complete = false;
  /**
   * Counts rows committed without being handed over: a read that finds the outbox sent to its end
   * makes the relay `complete` only if none was reported while it ran (such a row may have committed
   * after the read's snapshot was taken).
   */
  private unhanded = 0;

  constructor(
    private readonly pool: Pool,
    private readonly broker: Broker,
    private readonly stateSchema: string,
    private readonly queue: string,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Called after a batch commits: there are rows to send. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Outbox rows just committed, with their payloads exactly as the outbox holds them (see
   * assembleNotifications): a round takes them from here instead of reading them back, which for a
   * 3.4 MB notification cost 12-73 ms between the commit and the publish; and while every committed
   * row is handed over, a round reads nothing (a read before each publish was 0.5-0.8 ms of a paced
   * notification's 7-10 from commit to publish). Only an optimization: a row whose payload was not
   * handed over (too many bytes waiting, a batch too big to hand over) is read as always, and so is
   * every row after it, until a read finds the outbox sent to its end.
   */
  offer(rows: HandedPayload[]): void {
    for (const row of rows) {
      // Too late: a round already read that row (it ran as the batch committed).
      if (this.readUpTo !== null && BigInt(row.seq) <= BigInt(this.readUpTo)) continue;
      if (row.body === null || this.handedBytes + row.body.length > MAX_HANDED_BYTES) {
        this.notHanded();
        continue;
      }
      this.handed.set(row.seq, { ...row, body: row.body });
      this.handedBytes += row.body.length;
    }
  }

  /**
   * Outbox rows may have been committed without being handed over (a capture loop that failed after
   * its commit, a resync writing the outbox): rounds read the outbox again until they find it sent
   * to its end. Called before capture starts (again).
   */
  expectUnhanded(): void {
    this.notHanded();
  }

  private notHanded(): void {
    this.complete = false;
    this.unhanded++;
  }

  /** Sends what is in the outbox, then stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await this.drainOnce().catch((err: unknown) => this.logger.warn({ err }, 'outbox not fully sent at stop; it is sent at the next start'));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const sent = await this.drainOnce();
        failures = 0;
        if (sent === 0) await this.idle();
      } catch (err) {
        failures++;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(failures, 7)) * (0.5 + Math.random() / 2);
        this.logger.warn({ err, retryInMs: Math.round(delay) }, 'publishing the outbox failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, IDLE_POLL_MS);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        self.woken = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /**
   * Publishes outbox rows until none are left, deleting the confirmed ones; returns how many were
   * sent. Off the path to the broker: the next round is read while one is being published, and
   * confirmed rows are deleted behind it (deleting a megabyte payload's TOAST chunks takes as long as publishing it).
   * Rows are deleted only once confirmed; a crash before that sends them again, with their Id.
   */
  async drainOnce(): Promise<number> {
    let total = 0;
    let deleteFailure: unknown = null;
    const deleteSent = () => this.deleteSent().catch((err: unknown) => void (deleteFailure ??= err));
    let deleting = deleteSent();
    const prefetch = (after: string | null) => {
      const round = this.readRound(after);
      // Handled now (awaited later): a failure while the previous round publishes is not "unhandled".
      round.catch(() => undefined);
      return round;
    };
    let next = prefetch(this.sentUpTo);
    try {
      for (;;) {
        const waited = performance.now();
        const round = await next;
        if (!round) return total;
        next = prefetch(round.lastSeq);
        const publishing = performance.now();
        await this.broker.publish(this.queue, round.messages);
        this.logger.debug(
          {
            messages: round.messages.length,
            bytes: round.messages.reduce((n, m) => n + m.body.length, 0),
            // Waiting for the round to be read (prefetched while the previous one was published), then
            // publishing it until RabbitMQ confirmed it.
            readMs: Math.round(publishing - waited),
            publishMs: Math.round(performance.now() - publishing),
          },
          'outbox round published',
        );
        this.sentUpTo = round.lastSeq;
        total += round.messages.length;
        deleting = deleting.then(deleteSent);
      }
    } finally {
      await next.catch(() => undefined);
      await deleting;
      // A failed delete fails the drain; the next one starts by deleting again.
      if (deleteFailure !== null) throw deleteFailure;
    }
  }

  /**
   * The next round after `after` (a seq), up to BATCH rows and about BATCH_BYTES of payload. Nothing
   * below `after` can appear later: one capture writes the outbox, and its rows become visible in
   * seq order (a batch diffed by several sessions commits them in the order they inserted).
   */
  private async readRound(after: string | null): Promise<OutboxRound | null> {
    if (this.complete && this.handed.size > 0) return this.handedRound();
    const unhanded = this.unhanded;
    const { rows } = await this.pool.query<{ seq: string; inquiry: string; notification_id: string }>(
      `SELECT seq, inquiry, notification_id
         FROM (SELECT seq, inquiry, notification_id, octet_length(payload) AS bytes,
                      sum(octet_length(payload)) OVER (ORDER BY seq) AS upto
                 FROM ${outboxTable(this.stateSchema)} WHERE seq > $1 ORDER BY seq LIMIT ${BATCH}) o
        WHERE upto - bytes < ${BATCH_BYTES} ORDER BY seq`,
      [after ?? '0'],
    );
    if (rows.length === 0) {
      // Sent to its end as of this read: what commits from now on is handed over, or says it was not.
      if (this.unhanded === unhanded) this.complete = true;
      return null;
    }
    const lastSeq = rows.at(-1)!.seq;
    // Rounds read in seq order, so every payload handed over up to here is one of these rows.
    if (this.readUpTo === null || BigInt(lastSeq) > BigInt(this.readUpTo)) this.readUpTo = lastSeq;
    const bodies = rows.map((r) => this.takeHanded(r.seq));
    const unread = rows.filter((_, i) => bodies[i] === undefined).map((r) => r.seq);
    if (unread.length > 0) {
      const read = await this.readBodies(unread);
      let next = 0;
      for (let i = 0; i < bodies.length; i++) bodies[i] ??= read[next++];
    }
    return { lastSeq, messages: rows.map((r, i) => outgoing(r.inquiry, r.notification_id, bodies[i]!)) };
  }

  /**
   * The next round from the rows handed over alone, in seq order, bounded as a read round is. Exact
   * while `complete`: no row committed after the last one read is missing from them.
   */
  private handedRound(): OutboxRound {
    const rows = [...this.handed.values()].sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
    const round: HandedRow[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (round.length === BATCH || bytes >= BATCH_BYTES) break;
      round.push(row);
      bytes += row.body.length;
    }
    for (const row of round) this.takeHanded(row.seq);
    const lastSeq = round.at(-1)!.seq;
    this.readUpTo = lastSeq;
    return { lastSeq, messages: round.map((r) => outgoing(r.inquiry, r.notificationId, r.body)) };
  }

  private takeHanded(seq: string): Buffer | undefined {
    const row = this.handed.get(seq);
    if (row === undefined) return undefined;
    this.handed.delete(seq);
    this.handedBytes -= row.body.length;
    return row.body;
  }

  /** Deletes the rows the broker confirmed, if any are left. */
  private async deleteSent(): Promise<void> {
    const upTo = this.sentUpTo;
    if (upTo === null || upTo === this.deletedUpTo) return;
    await this.pool.query(`DELETE FROM ${outboxTable(this.stateSchema)} WHERE seq <= $1`, [upTo]);
    this.deletedUpTo = upTo;
  }

  /**
   * The payloads as bytes, straight from the wire (binary result format, no parser: see RAW_BYTES):
   * a text column comes as its bytes in the client encoding, which node-postgres sets to UTF-8. Not
   * as `convert_to(payload, 'UTF8')`: that bytea is computed below the sort, which then holds every
   * payload whole and spills past work_mem, where the text sorts as its TOAST pointer (measured, eight
   * payloads of 0.9 MB: 103-159 ms read through convert_to, 36-67 ms as text).
   */
  private async readBodies(seqs: string[]): Promise<Buffer[]> {
    const { rows } = await this.pool.query<{ body: Buffer }>(
      rawBytesQuery({
        text: `SELECT payload AS body FROM ${outboxTable(this.stateSchema)} WHERE seq = ANY($1::bigint[]) ORDER BY seq`,
        values: [seqs],
      }),
    );
    if (rows.length !== seqs.length) throw new Error(`outbox rows vanished while being sent (${rows.length} of ${seqs.length} found)`);
    return rows.map((r) => r.body);
  }
}

/** An outbox row as published: its Id as the message id, its inquiry in the `query` header (see the dispatcher). */
function outgoing(inquiry: string, notificationId: string, body: Buffer): OutgoingMessage {
  return { body, messageId: notificationId, headers: { query: inquiry } };
}

interface OutboxRound {
  lastSeq: string;
  messages: OutgoingMessage[];
}
