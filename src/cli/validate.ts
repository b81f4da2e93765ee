import type { Command } from 'commander';
import { ProblemsError, formatProblem, type Problem } from '../errors.ts';
import { loadInquiries, toCatalog } from '../inquiry/load.ts';
import { loadStores } from '../config/stores.ts';
import { loadDestinations } from '../config/destinations.ts';
import { withContext, type DirOption } from './context.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check every inquiry, destination and store file against the schema and the live database')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .action(async (options: DirOption) => {
      await withContext(options, async (ctx) => {
        const loaded = await loadInquiries(ctx.pool, ctx.dir);
        const destinations = await loadDestinations(ctx.dir, toCatalog(loaded.inquiries));
        const stores = await loadStores(ctx.dir);
        const problems: Problem[] = [...loaded.problems, ...destinations.problems, ...stores.problems];
        if (problems.length > 0) {
          // validate's output is the report itself: problems go to stdout, one per line.
          for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
          throw new ProblemsError([]);
        }
        process.stdout.write(
          `ok: ${loaded.inquiries.length} inquiries, ${destinations.destinations.length} destinations, ${stores.stores.length} stores\n`,
        );
      }, false);
    });
}
