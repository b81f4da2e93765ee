import type { Command } from 'commander';
import { parseRoles, runEngine, ROLE_NAMES } from '../engine/start.ts';
import { resolveDir, type DirOption } from './context.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine until SIGINT/SIGTERM, then drain and exit')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--roles <roles>', `comma-separated roles: ${ROLE_NAMES.join(',')}`, ROLE_NAMES.join(','))
    .action(async (options: DirOption & { roles: string }) => {
      await runEngine({ dir: resolveDir(options), roles: parseRoles(options.roles) });
    });
}
