import type { Command } from 'commander';
import { notBuilt } from './not-built.ts';

export function registerFailed(program: Command): void {
  const failed = program.command('failed').description('failed push notifications');
  const dir = ['--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.'] as const;
  failed.command('list').description('list failed notifications').option(...dir).option('--json', 'print JSON').action(() => notBuilt('pushcdc failed list'));
  failed.command('resend <id>').description('send one failed notification again').option(...dir).action(() => notBuilt('pushcdc failed resend'));
  failed.command('resend-all').description('send every failed notification again').option(...dir).action(() => notBuilt('pushcdc failed resend-all'));
  failed.command('delete <id>').description('delete one failed notification').option(...dir).action(() => notBuilt('pushcdc failed delete'));
}
