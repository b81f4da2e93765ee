import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine until SIGINT/SIGTERM, then drain and exit')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--roles <roles>', 'comma-separated roles: capture,dispatch,commerce,webhooks', 'capture,dispatch,commerce,webhooks')
    .action(() => notBuilt('pushcdc start'));
}
