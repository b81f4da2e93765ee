import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('sync history (rows of pushcdc.sync_status)')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--store <store>', 'only this store')
    .option('--entity <entity>', 'only this entity')
    .option('--status <status>', 'only this status')
    .option('--json', 'print JSON')
    .action(() => notBuilt('pushcdc history'));
}
