#!/usr/bin/env node
// The `atelier` command. Sources are TypeScript; a checkout needs no build step: they run compiled
// once per change (bin/compiled-cli.js), or through tsx when that is off or fails.
import { compiledCli } from './compiled-cli.js';

const compiled = await compiledCli();
let main;
if (compiled) ({ main } = await import(compiled));
else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
