#!/usr/bin/env node
// The `tread` command: `tread` starts the server, `tread audit verify|head` checks the audit chain.
import { existsSync } from 'node:fs';
import nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';
const built = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));
if (!existsSync(built)) {
  console.error('tread is not built yet: run `npm run build` first.');
  process.exit(1);
}
// Node 22.1+ caches compiled modules on disk (NODE_COMPILE_CACHE or the OS temp directory); older Node has no such
// call. Never stops the start: an unwritable directory only means no cache.
try {
  nodeModule.enableCompileCache?.();
} catch { /* no cache */ }
await import(built);
