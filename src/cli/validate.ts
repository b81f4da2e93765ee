import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check every inquiry, destination and store file against the schema and the live database')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .action(() => notBuilt('pushcdc validate'));
}
