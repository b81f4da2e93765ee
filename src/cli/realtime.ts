import type { Command } from 'commander';
import { loadStoresOrThrow } from '../config/stores.ts';
import { changeRealtime } from '../commerce/realtime-control.ts';
import { rootLogger } from '../log.ts';
import { withContext, type DirOption } from './context.ts';
import { printJson } from './output.ts';

interface RealtimeOptions extends DirOption {
  store: string;
  entity: string;
  json?: boolean;
}

export function registerRealtime(program: Command): void {
  const realtime = program.command('realtime').description('start or stop real-time sync of one entity of one store');
  for (const action of ['start', 'stop'] as const) {
    realtime
      .command(action)
      .description(`${action} real-time sync`)
      .requiredOption('--store <store>', 'store name (stores/<name>.json)')
      .requiredOption('--entity <entity>', 'entity name, e.g. Customer')
      .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
      .option('--json', 'print JSON')
      .action((options: RealtimeOptions) =>
        withContext(options, async (ctx) => {
          const stores = await loadStoresOrThrow(ctx.dir, process.env);
          const change = await changeRealtime(
            { pool: ctx.pool, stores, env: ctx.env, logger: rootLogger.child({ command: `realtime ${action}` }) },
            action,
            options.store,
            options.entity,
          );
          if (options.json) {
            printJson(change);
            return;
          }
          const hooks = Array.isArray(change.webhooks)
            ? change.webhooks.length > 0
              ? `, webhooks ${change.webhooks.join(', ')}`
              : ''
            : change.webhooks > 0
              ? `, ${change.webhooks} webhooks removed`
              : '';
          process.stdout.write(`${change.store} ${change.entity}: export ${change.export}, import ${change.import}${hooks}\n`);
        }),
      );
  }
}
