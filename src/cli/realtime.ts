import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerRealtime(program: Command): void {
  const realtime = program.command('realtime').description('start or stop real-time sync of one entity of one store');
  for (const action of ['start', 'stop'] as const) {
    realtime
      .command(action)
      .description(`${action} real-time sync`)
      .requiredOption('--store <store>', 'store name (stores/<name>.json)')
      .requiredOption('--entity <entity>', 'entity name, e.g. Customer')
      .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
      .action(() => notBuilt(`pushcdc realtime ${action}`));
  }
}
