#!/usr/bin/env node
/**
 * `npm run build`'s last step: the pre-initialised PGlite data directory a first start copies instead of running
 * PGlite's initdb in the server (db/pglite-template.ts, issue 17), in dist/pglite-template/. It is made once per
 * installed PGlite version and set of migrations (a few seconds, ~850 MB of memory in this step's own process);
 * with both unchanged this step only compares them (a few milliseconds). Run after tsc: it uses dist/db/.
 * TREAD_PGLITE_TEMPLATE=off skips it.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
if (process.env.TREAD_PGLITE_TEMPLATE === 'off') process.exit(0);
if (!existsSync(join(dist, 'db', 'pglite-template.js'))) {
  process.stderr.write('pglite-template: dist/db/pglite-template.js is missing: run tsc first\n');
  process.exit(1);
}
const { buildTemplate } = await import('../dist/db/pglite-template.js');
const { migrationsFolder } = await import('../dist/db/client.js');
const dir = join(dist, 'pglite-template');
const started = performance.now();
if (await buildTemplate(dir, migrationsFolder())) {
  process.stdout.write(`pglite-template: made ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}
