/** The `tread` command: `tread` (or `tread start`) runs the server; `tread audit verify|head` checks the audit chain. */
import { resolve } from 'node:path';
import { DataDirLockedError, openDatabase } from '../db/client.js';
import { auditHead, verifyAudit } from './core/audit.js';
import { EnvError, loadEnv } from './core/config/env.js';

const USAGE = `usage: tread [start]        run the server (console chat when no platform is configured)
       tread audit verify   check the audit hash chain; exit 1 when a row was edited or deleted
       tread audit head     print the newest audit hash (record it elsewhere to detect deletion of the newest rows)`;

async function audit(sub: string | undefined): Promise<number> {
  if (sub !== 'verify' && sub !== 'head') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let env;
  try {
    env = loadEnv();
  } catch (e) {
    if (e instanceof EnvError) { process.stderr.write(`tread: bad environment: ${e.message}\n`); return 2; }
    throw e;
  }
  let database;
  try {
    database = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, poolSize: 1 } : { dataDir: resolve(env.TREAD_DATA_DIR), ...(env.TREAD_PGLITE_SNAPSHOT ? { pgliteSnapshot: resolve(env.TREAD_PGLITE_SNAPSHOT) } : {}) });
  } catch (e) {
    if (e instanceof DataDirLockedError) {
      process.stderr.write(`tread: ${e.message}\n(The embedded database has one user at a time: stop tread to verify, or run tread on PostgreSQL.)\n`);
      return 2;
    }
    throw e;
  }
  try {
    if (sub === 'head') {
      const head = await auditHead(database.db);
      process.stdout.write(`${head.seq} ${head.hash}\n`);
      return 0;
    }
    const result = await verifyAudit(database.db);
    if (result.ok) {
      process.stdout.write(`audit chain OK: ${result.rows} rows, head ${result.head}\n`);
      return 0;
    }
    process.stdout.write(`audit chain BROKEN (${result.problems.length} problems in ${result.rows} rows):\n${result.problems.map((p) => `- ${p}`).join('\n')}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

const [command, sub] = process.argv.slice(2);
if (command === undefined || command === 'start') {
  const { main } = await import('./main.js');
  await main();
} else if (command === 'audit') {
  process.exitCode = await audit(sub);
} else {
  process.stderr.write(`${USAGE}\n`);
  process.exitCode = command === 'help' || command === '--help' ? 0 : 2;
}
