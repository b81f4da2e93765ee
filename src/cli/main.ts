import { Command, CommanderError } from 'commander';
import { PushcdcError, ProblemsError, formatProblem } from '../errors.ts';
import { registerValidate } from './validate.ts';
import { registerCompile } from './compile.ts';
import { registerExplain } from './explain.ts';
import { registerStart } from './start.ts';
import { registerRealtime } from './realtime.ts';
import { registerStatus } from './status.ts';
import { registerHistory } from './history.ts';
import { registerEvents } from './events.ts';
import { registerFailed } from './failed.ts';

export function buildProgram(): Command {
  const program = new Command('pushcdc')
    .description('Change-data-capture push notifications for PostgreSQL')
    .showHelpAfterError()
    .exitOverride();
  registerValidate(program);
  registerCompile(program);
  registerExplain(program);
  registerStart(program);
  registerRealtime(program);
  registerStatus(program);
  registerHistory(program);
  registerEvents(program);
  registerFailed(program);
  // Subcommands inherit exitOverride only when set before they are added; set it on all of them.
  const override = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 1 user error, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ProblemsError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 1;
    }
    if (err instanceof PushcdcError) {
      process.stderr.write(`pushcdc: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`pushcdc: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
