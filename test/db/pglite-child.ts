/**
 * A separate process on a PGlite data directory, for the durability tests (run with `node --import tsx`).
 * TREAD_PGLITE_SNAPSHOT and TREAD_PGLITE_TEMPLATE are passed to openDatabase as pgliteSnapshot and pgliteTemplate.
 *   open <dir>    open (migrating), print {"ok":true} or the error as JSON, close, exit
 *   hold <dir>    open, print "ready", keep the directory until stdin ends or SIGTERM
 *   write <dir>   open, print "ready", then commit audit rows with a timeline row each, printing "committed <seq>"
 *                 after every commit, forever (the test kills it with SIGKILL)
 *   verify <dir>  open (migrating), check every committed row is there and the chain verifies, append one more, close,
 *                 print the figures as JSON
 */
import { sql } from 'drizzle-orm';
import { openDatabase, schema, type Database } from '../../db/client.js';
import { appendAudit, auditHead, verifyAudit } from '../../src/core/audit.js';

const [mode, dir] = process.argv.slice(2);
if (!mode || !dir) {
  console.error('usage: pglite-child.ts open|hold|write|verify <dir>');
  process.exit(2);
}

function out(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
}

async function open(): Promise<Database> {
  const started = Date.now();
  const snapshot = process.env.TREAD_PGLITE_SNAPSHOT;
  const template = process.env.TREAD_PGLITE_TEMPLATE;
  const database = await openDatabase({ dataDir: dir, ...(snapshot ? { pgliteSnapshot: snapshot } : {}), ...(template ? { pgliteTemplate: template } : {}) });
  out({ opened: true, ms: Date.now() - started, pid: process.pid, from: database.pgliteStart?.from });
  return database;
}

async function appendOne(database: Database, n: number): Promise<number> {
  return database.db.transaction(async (tx) => {
    const { seq } = await appendAudit(tx, { at: new Date(), actor: 'writer', source: 'scheduler', subject: `CRASH-${n}`, action: 'test.write', data: { n, pad: 'x'.repeat(200) } });
    await tx.insert(schema.timeline).values({ subject: `CRASH-${n}`, at: new Date(), actor: 'writer', source: 'scheduler', kind: 'test', text: `row ${seq}`, data: { seq } });
    return seq;
  });
}

async function main(): Promise<void> {
  switch (mode) {
    case 'open': {
      try {
        const database = await open();
        await database.close();
        out({ ok: true });
      } catch (e) {
        const err = e as Error & { code?: string };
        out({ ok: false, name: err.name, code: err.code, message: err.message });
        process.exitCode = 3;
      }
      return;
    }
    case 'hold': {
      const database = await open();
      out('ready');
      await new Promise<void>((resolve) => {
        process.stdin.on('end', resolve).resume();
        process.on('SIGTERM', resolve);
      });
      await database.close();
      return;
    }
    case 'write': {
      const database = await open();
      let { seq } = await auditHead(database.db);
      out('ready');
      for (;;) {
        seq = await appendOne(database, seq + 1);
        out(`committed ${seq}`);
      }
    }
    case 'verify': {
      const database = await open();
      const verification = await verifyAudit(database.db);
      const [counts] = await database.rows<{ audit: number; timeline: number; max: number }>(sql`select
        (select count(*)::int from audit_log where action = 'test.write') as audit,
        (select count(*)::int from timeline where kind = 'test') as timeline,
        (select coalesce(max(seq), 0)::int from audit_log) as max`);
      const migrations = await database.rows<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      const appended = await appendOne(database, (counts?.max ?? 0) + 1);
      await database.close();
      out({ ok: verification.ok, problems: verification.problems, rows: verification.rows, ...counts, migrations: migrations[0]?.n, appended });
      return;
    }
    default:
      console.error(`unknown mode ${mode}`);
      process.exitCode = 2;
  }
}

main().catch((e) => {
  out({ ok: false, name: (e as Error).name, message: (e as Error).message, stack: (e as Error).stack });
  process.exitCode = 1;
});
