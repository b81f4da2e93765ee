import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('system events')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--level <level>', 'only this level: information, warning, error, fatal')
    .option('--source <source>', 'only this source')
    .option('--json', 'print JSON')
    .action(() => notBuilt('pushcdc events'));
}
