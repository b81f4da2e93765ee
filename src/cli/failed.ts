import type { Command } from 'commander';
import type { Broker } from '../broker/broker.ts';
import { connectBroker } from '../broker/connect.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import { deleteFailed, getFailed, listFailed, type FailedNotification } from '../dispatch/failed-store.ts';
import { resendFailed, type ResendContext } from '../dispatch/resend.ts';
import { withContext, type CommandContext, type DirOption } from './context.ts';
import { printJson, printTable } from './output.ts';

/**
 * `pushcdc failed`: the ERP's "Process Push Notifications" list. `resend` makes one direct attempt
 * at the destination (see src/dispatch/resend.ts): delivered → the row goes; refused → the row stays
 * with the new error and the command exits 1.
 */
export function registerFailed(program: Command): void {
  const failed = program.command('failed').description('failed push notifications');
  const dir = ['--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.'] as const;
  failed
    .command('list')
    .description('list failed notifications')
    .option(...dir)
    .option('--json', 'print JSON (with the payloads)')
    .action((options: DirOption & { json?: boolean }) => withContext(options, (ctx) => list(ctx, options.json === true)));
  failed
    .command('resend <id>')
    .description('send one failed notification again')
    .option(...dir)
    .action((id: string, options: DirOption) => withContext(options, (ctx) => resendOne(ctx, id)));
  failed
    .command('resend-all')
    .description('send every failed notification again, oldest first')
    .option(...dir)
    .action((options: DirOption) => withContext(options, (ctx) => resendAll(ctx)));
  failed
    .command('delete <id>')
    .description('delete one failed notification')
    .option(...dir)
    .action((id: string, options: DirOption) => withContext(options, (ctx) => remove(ctx, id)));
}

async function list(ctx: CommandContext, json: boolean): Promise<void> {
  const rows = await listFailed(ctx.pool);
  if (json) return printJson(rows);
  printTable(
    rows.map((r) => ({
      id: r.id,
      created: r.createdAt,
      destination: r.destination,
      query: r.query,
      notification: r.notificationId ?? '',
      attempts: r.attempts,
      truncated: r.truncated ? 'yes' : '',
      error: r.error,
    })),
  );
}

async function found(ctx: CommandContext, id: string): Promise<FailedNotification> {
  const row = await getFailed(ctx.pool, id);
  if (!row) throw new PushcdcError('NOT_FOUND', `no failed notification with id ${id} (see \`pushcdc failed list\`)`);
  return row;
}

async function resendOne(ctx: CommandContext, id: string): Promise<void> {
  const row = await found(ctx, id);
  await withResendContext(ctx, async (resend) => {
    const outcome = await resendFailed(resend, row);
    if (!outcome.ok) {
      throw new PushcdcError('DELIVERY', `failed notification ${id} to ${row.destination} failed again (kept in the list): ${outcome.error}`);
    }
    process.stdout.write(`sent failed notification ${id} (${row.query}, Id ${row.notificationId ?? '?'}) to ${row.destination}\n`);
  });
}

async function resendAll(ctx: CommandContext): Promise<void> {
  const rows = await listFailed(ctx.pool);
  let failures = 0;
  await withResendContext(ctx, async (resend) => {
    for (const row of rows) {
      const outcome = await resendFailed(resend, row).catch((err: unknown) => ({ ok: false as const, error: errorMessage(err) }));
      if (outcome.ok) process.stdout.write(`sent ${row.id} (${row.query}) to ${row.destination}\n`);
      else {
        failures++;
        process.stdout.write(`kept ${row.id} (${row.query}) for ${row.destination}: ${outcome.error}\n`);
      }
    }
  });
  process.stdout.write(`${rows.length - failures} sent, ${failures} kept\n`);
  if (failures > 0) throw new PushcdcError('DELIVERY', `${failures} of ${rows.length} failed notifications could not be sent`);
}

async function remove(ctx: CommandContext, id: string): Promise<void> {
  if (!(await deleteFailed(ctx.pool, id))) {
    throw new PushcdcError('NOT_FOUND', `no failed notification with id ${id} (see \`pushcdc failed list\`)`);
  }
  process.stdout.write(`deleted failed notification ${id}\n`);
}

/** The broker is connected only if a commerce destination needs it, and closed afterwards. */
async function withResendContext(ctx: CommandContext, work: (resend: ResendContext) => Promise<void>): Promise<void> {
  let broker: Promise<Broker> | undefined;
  try {
    await work({
      dir: ctx.dir,
      pool: ctx.pool,
      commerceQueue: ctx.names.commerceQueue,
      broker: () => (broker ??= openBroker(ctx)),
    });
  } finally {
    // A broker that failed to connect has already reported its error through `work`.
    const opened = broker ? await broker.catch(() => undefined) : undefined;
    await opened?.close();
  }
}

function openBroker(ctx: CommandContext): Promise<Broker> {
  return connectBroker({ amqpUrl: ctx.env.AMQP_URL, pool: ctx.pool });
}
