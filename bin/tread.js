#!/usr/bin/env node
// The `tread` command: `tread` starts the server, `tread audit verify|head` checks the audit chain.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const built = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
if (!existsSync(built)) {
  console.error('tread is not built yet: run `npm run build` first.');
  process.exit(1);
}
await import(built);
