import { parseArgs } from 'node:util';

/**
 * The bench's command line. `--only` picks the runs, so one part can be iterated on without waiting
 * for the others; the memory run is opt-in (`--memory`, or `memory` in `--only`) because it spawns a
 * separate engine and, at 1M rows, rewrites the whole table in one transaction.
 */
export const PARTS = ['decode', 'live', 'paced', 'backlog', 'naive', 'memory'] as const;
export type Part = (typeof PARTS)[number];

export interface BenchOptions {
  /**
   * Names everything the bench creates on the shared servers: database `pushcdc_<name>` (and
   * `pushcdc_<name>_side` for --side-load), pushcdc instances `<name>_<kind>` (their slots and queues)
   * and the decode slots `<name>_decode_…`.
   */
  name: string;
  sizes: number[];
  changes: number;
  /** Changes in the long backlog, run at the largest size only (0: not run). */
  longBacklog: number;
  txSize: number;
  connections: number;
  pacedRate: number;
  pacedSeconds: number;
  /** Paced runs: also once more with this many transactions/s written to another database (0: not). */
  sideLoad: number;
  memoryTimeoutMs: number;
  parts: Set<Part>;
}

export const USAGE = `npm run bench -- [options]
  --name bench                   names the database (pushcdc_<name>), slots and queues the bench
                                 creates and drops: two benches on one server need two names
  --sizes 10000,100000,1000000   root-table sizes (rows per table)
  --changes 20000                row changes per decode/live/backlog/naive run
  --long-backlog 100000          backlog runs: also a backlog of this many changes, at the largest
                                 size (a drain of seconds, where the short one is a single batch);
                                 0 leaves it out
  --tx-size 10                   rows changed per transaction
  --connections 4                writing connections
  --paced-rate 1000              paced run: row changes/s, all connections together
  --paced-seconds 15             paced run: how long
  --side-load 0                  paced run: also once more while another database (pushcdc_<name>_side)
                                 takes this many one-row transactions/s; 0 leaves it out
  --only live,paced              runs to do, of ${PARTS.join(',')}
                                 (default: all but memory)
  --memory                       also run the memory run (for every size)
  --memory-timeout 600           memory run: seconds before it is reported as not finished`;

/** The options, or (a usage error) the message and the usage on stderr and exit code 2. */
export function parseOptions(argv: string[] = process.argv.slice(2)): BenchOptions {
  try {
    return parse(argv);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

function parse(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string', default: 'bench' },
      sizes: { type: 'string', default: '10000,100000,1000000' },
      changes: { type: 'string', default: '20000' },
      'long-backlog': { type: 'string', default: '100000' },
      'tx-size': { type: 'string', default: '10' },
      connections: { type: 'string', default: '4' },
      'paced-rate': { type: 'string', default: '1000' },
      'paced-seconds': { type: 'string', default: '15' },
      'side-load': { type: 'string', default: '0' },
      only: { type: 'string' },
      memory: { type: 'boolean', default: false },
      'memory-timeout': { type: 'string', default: '600' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const positive = (name: string, text: string) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got "${text}"`);
    return n;
  };
  const parts = new Set<Part>(values.only === undefined ? PARTS.filter((p) => p !== 'memory') : []);
  for (const name of (values.only ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    if (!(PARTS as readonly string[]).includes(name)) throw new Error(`--only: unknown run "${name}"; runs are ${PARTS.join(', ')}`);
    parts.add(name as Part);
  }
  if (values.memory) parts.add('memory');
  if (parts.size === 0) throw new Error(`--only: no runs given`);
  if (values['side-load'] !== '0' && !parts.has('paced')) throw new Error(`--side-load: it repeats the paced run, which --only leaves out`);
  // It becomes part of database, slot and queue names, unquoted, with room for the longest suffix.
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(values.name)) {
    throw new Error(`--name: expected a lower-case letter, then up to 39 of a-z, 0-9 and _, got "${values.name}"`);
  }
  return {
    name: values.name,
    sizes: values.sizes.split(',').map((s) => Math.round(positive('sizes', s))),
    changes: Math.round(positive('changes', values.changes)),
    longBacklog: values['long-backlog'] === '0' ? 0 : Math.round(positive('long-backlog', values['long-backlog'])),
    txSize: Math.round(positive('tx-size', values['tx-size'])),
    connections: Math.round(positive('connections', values.connections)),
    pacedRate: positive('paced-rate', values['paced-rate']),
    pacedSeconds: positive('paced-seconds', values['paced-seconds']),
    sideLoad: values['side-load'] === '0' ? 0 : positive('side-load', values['side-load']),
    memoryTimeoutMs: positive('memory-timeout', values['memory-timeout']) * 1000,
    parts,
  };
}
