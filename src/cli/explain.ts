import path from 'node:path';
import type { Command } from 'commander';
import { PushcdcError, ProblemsError } from '../errors.ts';
import { findTableScans } from '../diff/table-scans.ts';
import { explainInquiry } from '../inquiry/explain.ts';
import { loadInquiries, readInquirySources } from '../inquiry/load.ts';
import { withContext, type DirOption } from './context.ts';

export function registerExplain(program: Command): void {
  program
    .command('explain <inquiry>')
    .description('root table, tables and their key columns, join tree, tracked columns, lookups by key (tables a diff reads whole), generated SQL')
    .option('--dir <path>', 'folder holding inquiries/, destinations/, stores/', '.')
    .action(async (name: string, options: DirOption) => {
      await withContext(options, async (ctx) => {
        const { inquiries, problems } = await loadInquiries(ctx.pool, ctx.dir, { only: name });
        const inquiry = inquiries[0];
        if (!inquiry) {
          // Its own file's problems (named after it), not those of every file whose path holds the name.
          const mine = problems.filter((p) => path.basename(p.file, path.extname(p.file)) === name);
          if (mine.length > 0) throw new ProblemsError(mine);
          const known = (await readInquirySources(ctx.dir)).sources.map((s) => s.name).sort();
          throw new PushcdcError('NOT_FOUND', `no inquiry named "${name}"; known: ${known.join(', ') || '(none)'}`);
        }
        const client = await ctx.pool.connect();
        // Advice only: explain still prints everything else when the check cannot run.
        const scans = await findTableScans(client, inquiry)
          .catch((err: unknown) => ({ failed: (err as Error).message }))
          .finally(() => client.release());
        process.stdout.write(`${explainInquiry(inquiry, ctx.names.viewSchema, scans)}\n`);
      }, false);
    });
}
