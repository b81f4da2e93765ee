import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('queue monitor: queues, replication slot lag, destinations')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--json', 'print JSON')
    .action(() => notBuilt('pushcdc status'));
}
