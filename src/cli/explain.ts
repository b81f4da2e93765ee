import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerExplain(program: Command): void {
  program
    .command('explain <inquiry>')
    .description('root table, tables and their key columns, join tree, tracked columns, generated SQL')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .action(() => notBuilt('pushcdc explain'));
}
