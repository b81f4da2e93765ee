#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx's loader, so the CLI needs no build step.
import { register } from 'tsx/esm/api';

register();
// A bad setting read while the modules load (PUSHCDC_LOG_LEVEL) is a user error like any other.
const { main } = await import('../src/cli/main.ts').catch((err) => {
  if (err?.name !== 'PushcdcError') throw err;
  process.stderr.write(`pushcdc: ${err.message}\n`);
  process.exit(1);
});
process.exitCode = await main(process.argv);
