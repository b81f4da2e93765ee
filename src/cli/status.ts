import type { Command } from 'commander';
import { connectBroker } from '../broker/connect.ts';
import { loadDestinations } from '../config/destinations.ts';
import { formatProblem, PushcdcError } from '../errors.ts';
import { formatBytes, instanceStatus } from '../monitor/status.ts';
import { withContext, type DirOption } from './context.ts';
import { printJson, printTable } from './output.ts';

interface StatusOptions extends DirOption {
  json?: boolean;
  sample?: string;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('queue monitor: queues (messages, consumers, rate), replication slot lag, outbox, destinations')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--json', 'print JSON')
    .option('--sample <ms>', 'measure queue rates over this many milliseconds (0: skip)', '1000')
    .action(async (options: StatusOptions) => {
      const sampleMs = Number(options.sample);
      if (!Number.isInteger(sampleMs) || sampleMs < 0 || sampleMs > 60_000) {
        throw new PushcdcError('USAGE', `--sample "${options.sample}" must be a whole number of milliseconds (0-60000)`);
      }
      await withContext(options, async (ctx) => {
        // A destination file with a problem (say, an unset ${ENV}) is left out of the table, but named
        // below it: a monitor that silently drops a destination hides what most needs looking at.
        const loaded = await loadDestinations(ctx.dir, null);
        const { destinations } = loaded;
        const destinationProblems = loaded.problems.map(formatProblem);
        const broker = await connectBroker({ amqpUrl: ctx.env.AMQP_URL, pool: ctx.pool });
        try {
          const status = await instanceStatus(ctx.pool, broker, ctx.names, destinations, sampleMs);
          if (options.json) {
            printJson({ ...status, destinationProblems });
            return;
          }
          const out = process.stdout;
          out.write(`Instance ${status.instance}\n\n`);
          out.write(
            status.slot
              ? `Replication slot ${status.slot.name}: ${status.slot.active ? 'streaming' : 'not streaming'}, lag ${formatBytes(status.slot.lagBytes)}, WAL ${status.slot.walStatus}` +
                  `${status.slot.safeWalBytes === null ? '' : `, ${formatBytes(status.slot.safeWalBytes)} before max_slot_wal_keep_size`}\n`
              : `Replication slot ${ctx.names.slot}: not created yet (start the capture role)\n`,
          );
          out.write(`Outbox: ${status.outboxWaiting === null ? 'not created yet' : `${status.outboxWaiting} notifications waiting`}\n\nQueues\n`);
          printTable(
            status.queues.map((q) => ({
              queue: q.queue,
              messages: q.messages ?? '',
              consumers: q.consumers ?? '',
              'net/s': q.netPerSecond === undefined ? '' : q.netPerSecond.toFixed(1),
              note: q.error ? 'not declared yet' : '',
            })),
          );
          out.write('\nDestinations\n');
          printTable(status.destinations.map((d) => ({ name: d.name, type: d.type, active: d.active ? 'yes' : 'no', failed: d.failed, inquiries: d.inquiries.join(', ') })));
          if (destinationProblems.length > 0) {
            out.write(`Not shown, for problems in their files (see pushcdc validate):\n${destinationProblems.map((p) => `  ${p}\n`).join('')}`);
          }
          out.write('\nInquiries\n');
          printTable(status.inquiries.map((i) => ({ inquiry: i.name, 'state rows': i.stateRows, 'built at': i.builtAt })));
        } finally {
          await broker.close();
        }
      });
    });
}
