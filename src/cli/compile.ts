import type { Command } from 'commander';
import { inTransaction } from '../db/pool.ts';
import { ProblemsError } from '../errors.ts';
import { loadInquiries } from '../inquiry/load.ts';
import { applyViews, viewStatements } from '../inquiry/views.ts';
import { withContext, type DirOption } from './context.ts';

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('print the generated view SQL; with --apply create or replace the views')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .option('--apply', 'create or replace the views in the database')
    .action(async (options: DirOption & { apply?: boolean }) => {
      await withContext(options, async (ctx) => {
        const { inquiries, problems } = await loadInquiries(ctx.pool, ctx.dir);
        // Nothing is created while any inquiry is wrong: a half-applied set is worse than none.
        if (problems.length > 0) throw new ProblemsError(problems);
        const schema = ctx.names.viewSchema;
        for (const inquiry of inquiries) {
          process.stdout.write(`-- ${inquiry.name} (${inquiry.file})\n`);
          for (const statement of viewStatements(inquiry, schema)) process.stdout.write(`${statement};\n\n`);
        }
        if (options.apply) {
          const stale = await inTransaction(ctx.pool, (client) => applyViews(client, inquiries, schema));
          process.stderr.write(
            `applied ${inquiries.length} inquiries to schema ${schema}${stale.length ? `; dropped stale views ${stale.join(', ')}` : ''}\n`,
          );
        }
      }, false);
    });
}
