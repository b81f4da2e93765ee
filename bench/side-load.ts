import pg from 'pg';
import { pacingGate } from './paced.ts';

/**
 * Another database's writes beside a paced run (`--side-load`). A production server is rarely quiet,
 * and a logical slot's walsender reads the whole server's WAL: each foreign commit makes it wait for
 * WAL again and send a keepalive, hundreds a second. That once held live changes back (see the
 * heartbeat in CaptureLoop.onEvent) while every paced run here, on a quiet server, looked fine.
 * Two connections write one-row transactions at `rate` transactions/s, paced as the paced run is.
 */
export interface SideLoad {
  /** Ends the writes; returns the rate they kept and their commit latency. */
  stop(): Promise<SideLoadResult>;
}

export interface SideLoadResult {
  transactionsPerSecond: number;
  meanMs: number;
}

const CONNECTIONS = 2;

/** Creates the side table in the (new, empty) side database. */
export async function prepareSideDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE TABLE side_event (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)');
  } finally {
    await client.end();
  }
}

export function startSideLoad(url: string, rate: number): SideLoad {
  const gate = pacingGate(1, rate);
  const startedAt = performance.now();
  let running = true;
  let issued = 0;
  let committed = 0;
  let busyMs = 0;
  const writers = Array.from({ length: CONNECTIONS }, async () => {
    const client = new pg.Client({ connectionString: url, application_name: 'pushcdc-bench-side-load' });
    await client.connect();
    try {
      while (running) {
        await gate(issued++, startedAt);
        if (!running) break;
        const began = performance.now();
        await client.query(`INSERT INTO side_event (note) VALUES (repeat('x', 100))`);
        busyMs += performance.now() - began;
        committed++;
      }
    } finally {
      await client.end();
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(writers);
      const seconds = (performance.now() - startedAt) / 1000;
      return { transactionsPerSecond: committed / seconds, meanMs: committed > 0 ? busyMs / committed : 0 };
    },
  };
}
