import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('print the generated view SQL; with --apply create or replace the views')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--apply', 'create or replace the views in the database')
    .action(() => notBuilt('pushcdc compile'));
}
