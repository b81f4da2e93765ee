import { LogicalReplicationService } from 'pg-logical-replication';
import { ENGINE_SESSION_OPTIONS } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import type { StreamEvent } from './changes.ts';
import { formatLsn, parseLsn, type Lsn } from './lsn.ts';
import { KeyOnlyPgoutputPlugin, type KeyMessage } from './pgoutput-keys.ts';
import { ReadPacing, type PausableSocket } from './read-pacing.ts';

/**
 * The pgoutput stream of one slot, as StreamEvents. Acknowledgement is ours alone: the library's
 * auto-ack would confirm WAL before the diff is durable (a crash would lose it), and even with
 * `auto: false` it acks the last received LSN after 10 s unless `timeoutSeconds` is 0.
 */
export interface StreamOptions {
  connectionString: string;
  slot: string;
  publication: string;
  /** Prefix of the logical messages that mark batch barriers (other instances use their own). */
  barrierPrefix: string;
  /** Primary-key columns, in order, of every watched table (`schema.name`). */
  keyColumns: Map<string, string[]>;
}

/** The socket a replication service reads (pg-logical-replication keeps it internal). */
export function replicationSocket(service: LogicalReplicationService): PausableSocket | undefined {
  return (service as unknown as { _connection?: { stream?: PausableSocket } })._connection?.stream;
}

export class ReplicationStream {
  private readonly service: LogicalReplicationService;
  private readonly decoder = new TextDecoder();
  private started = false;
  private warnedNoSocket = false;
  /** Set once streaming has started (see ReadPacing). */
  private pacing: ReadPacing | null = null;
  /** Held by pause() (see StreamHold), also before the pacing exists. */
  private held = false;

  constructor(
    private readonly options: StreamOptions,
    private readonly onEvent: (event: StreamEvent) => void,
    private readonly onError: (err: Error) => void,
    private readonly logger: Logger,
  ) {
    this.service = new LogicalReplicationService(
      { connectionString: options.connectionString, application_name: `pushcdc-capture-${options.slot}`, options: ENGINE_SESSION_OPTIONS },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: false } },
    );
    this.service.on('data', (lsn: string, message: KeyMessage) => {
      try {
        this.handle(lsn, message);
      } catch (err) {
        this.onError(err as Error);
      }
    });
    this.service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      this.onEvent({ kind: 'heartbeat', lsn: parseLsn(lsn), shouldRespond });
    });
    this.service.on('error', (err: Error) => this.onError(err));
  }

  /** Starts streaming from the slot's confirmed position; resolves once the server has started. */
  start(): Promise<void> {
    const plugin = new KeyOnlyPgoutputPlugin({ protoVersion: 1, publicationNames: [this.options.publication], messages: true }, this.options.keyColumns);
    return new Promise((resolve, reject) => {
      this.service.once('start', () => {
        this.started = true;
        const socket = this.socket();
        if (socket) {
          this.pacing = new ReadPacing(socket);
          if (this.held) this.pacing.hold();
        }
        resolve();
      });
      // subscribe() settles only when the stream ends; an early rejection means it never started.
      this.service.subscribe(plugin, this.options.slot).then(
        () => {
          if (this.started) this.onError(new Error('replication stream ended'));
        },
        (err: Error) => {
          if (this.started) this.onError(err);
          else reject(err);
        },
      );
    });
  }

  /**
   * Confirms that everything before `confirmedFlush` is durable: the server will not send those
   * transactions again and may recycle their WAL. (The library adds 1 to what it is given.)
   */
  async acknowledge(confirmedFlush: Lsn): Promise<void> {
    await this.service.acknowledge(formatLsn(confirmedFlush - 1n));
  }

  /** Asks the server for a keepalive, whose LSN an idle stream may then confirm. */
  async ping(confirmedFlush: Lsn): Promise<void> {
    await this.service.acknowledge(formatLsn(confirmedFlush - 1n), true);
  }

  /**
   * Stops reading from the server until `resume()`: the walsender then blocks on a full socket, so
   * changes wait in the WAL instead of in our memory. The library offers this only together with an
   * await per message (its flowControl); it pauses the same underlying socket, which is what we reach.
   */
  pause(): void {
    this.held = true;
    if (this.pacing) this.pacing.hold();
    else this.socket()?.pause();
  }

  resume(): void {
    this.held = false;
    if (this.pacing) this.pacing.release();
    else this.socket()?.resume();
  }

  private socket(): PausableSocket | undefined {
    const socket = replicationSocket(this.service);
    if (!socket && !this.warnedNoSocket) {
      // Only a library change gets here: changes then wait in memory instead of in the WAL.
      this.warnedNoSocket = true;
      this.logger.warn('cannot pause the replication stream (pg-logical-replication internals changed); a backlog is read without backpressure');
    }
    return socket;
  }

  async stop(): Promise<void> {
    this.started = false;
    this.pacing?.stop();
    this.pacing = null;
    await this.service.destroy();
  }

  private handle(lsnText: string, message: KeyMessage): void {
    switch (message.tag) {
      case 'begin':
        // A begin without a final LSN (0) does not occur in pgoutput 1; the message's own LSN stands in.
        this.onEvent({ kind: 'begin', xid: message.xid, commitLsn: message.commitLsn || parseLsn(lsnText) });
        return;
      case 'commit':
        this.onEvent({ kind: 'commit', commitLsn: message.commitLsn, commitEndLsn: message.commitEndLsn, commitTimeMicros: message.commitTimeMicros });
        return;
      case 'row':
        this.onEvent({ kind: 'row', table: message.table, keys: message.keys });
        return;
      case 'unkeyed':
        // A key column arrived as "unchanged TOAST" or was missing: we cannot name the row.
        this.onEvent({ kind: 'unkeyed', table: message.table });
        return;
      case 'unwatched':
        this.logger.debug({ table: message.table }, 'change of a table no inquiry reads');
        return;
      case 'truncate':
        this.onEvent({ kind: 'truncate', tables: message.tables });
        return;
      case 'message':
        if (!message.transactional && message.prefix === this.options.barrierPrefix) {
          this.onEvent({ kind: 'barrier', token: this.decoder.decode(message.content), lsn: parseLsn(lsnText) });
        }
        return;
      case 'other':
        return;
    }
  }
}
