/**
 * Start-up skips drizzle's migrator when nothing is pending: a fresh database migrates, an up-to-date one does not load
 * or run the migrator, and a migration added to the journal later is still found and applied. PGlite always,
 * PostgreSQL when DATABASE_URL is set.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { journalEntries, migrateDatabase, migrationsFolder, migrationsPending, migrationState, openDatabase, type Database } from '../../db/client.js';
import { createPgDatabase, drivers } from '../helpers/db.js';

/** How often drizzle's migrator ran (both drivers' migrators, wrapped). */
const migratorRuns = vi.hoisted(() => ({ n: 0 }));
vi.mock('drizzle-orm/pglite/migrator', async (importOriginal) => {
  const actual = await importOriginal<typeof import('drizzle-orm/pglite/migrator')>();
  return { ...actual, migrate: async (...args: Parameters<typeof actual.migrate>) => { migratorRuns.n++; return actual.migrate(...args); } };
});
vi.mock('drizzle-orm/postgres-js/migrator', async (importOriginal) => {
  const actual = await importOriginal<typeof import('drizzle-orm/postgres-js/migrator')>();
  return { ...actual, migrate: async (...args: Parameters<typeof actual.migrate>) => { migratorRuns.n++; return actual.migrate(...args); } };
});

interface Applied { id: number; hash: string; created_at: string | number }

for (const driver of drivers) {
  describe(`migrations are skipped when none is pending (${driver})`, () => {
    let database: Database;
    let drop = async () => {};
    const folders: string[] = [];

    beforeAll(async () => {
      if (driver === 'pglite') {
        database = await openDatabase({ dataDir: 'memory://', migrate: false });
      } else {
        const created = await createPgDatabase();
        drop = created.drop;
        database = await openDatabase({ url: created.url, migrate: false, poolSize: 2 });
      }
    });
    afterAll(async () => {
      await database?.close();
      await drop();
      for (const f of folders) rmSync(f, { recursive: true, force: true });
    });

    const applied = () => database.rows<Applied>(sql`select id, hash, created_at from drizzle.__drizzle_migrations order by id`);

    it('a fresh database (no drizzle schema yet) is pending, and migrating applies every journal entry', async () => {
      expect((await database.rows<{ n: number }>(sql`select count(*)::int as n from pg_namespace where nspname = 'drizzle'`))[0]!.n).toBe(0);
      expect(await migrationsPending(database)).toBe(true);
      const before = migratorRuns.n;
      await migrateDatabase(database);
      expect(migratorRuns.n).toBe(before + 1);
      expect((await applied()).map((r) => Number(r.created_at))).toEqual(journalEntries().map((e) => e.when));
      expect(await migrationsPending(database)).toBe(false);
    });

    it('an up-to-date database does not run the migrator', async () => {
      const before = migratorRuns.n;
      await migrateDatabase(database);
      expect(migratorRuns.n).toBe(before);
    });

    it('fewer applied rows than journal entries, or a null created_at, count as pending', async () => {
      const rows = await applied();
      const last = rows.at(-1)!;
      await database.rows(sql`delete from drizzle.__drizzle_migrations where id = ${last.id}`);
      try {
        expect(await migrationsPending(database)).toBe(true);
      } finally {
        await database.rows(sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${last.id}, ${last.hash}, ${last.created_at})`);
      }
      expect(await migrationsPending(database)).toBe(false);
      // drizzle orders by created_at desc, nulls first: a null row makes it apply everything again.
      await database.rows(sql`insert into drizzle.__drizzle_migrations (hash, created_at) values ('manual', null)`);
      try {
        expect(await migrationsPending(database)).toBe(true);
      } finally {
        await database.rows(sql`delete from drizzle.__drizzle_migrations where hash = 'manual'`);
      }
      expect(await migrationsPending(database)).toBe(false);
    });

    it('a migration added to the journal later is pending and gets applied', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'tread-migrations-'));
      folders.push(folder);
      cpSync(migrationsFolder(), folder, { recursive: true });
      const journalPath = join(folder, 'meta', '_journal.json');
      const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[] };
      const previous = journal.entries.at(-1)!;
      journal.entries.push({ idx: previous.idx + 1, version: previous.version, when: previous.when + 1000, tag: '9999_skip_probe', breakpoints: true });
      writeFileSync(journalPath, JSON.stringify(journal, null, 2));
      writeFileSync(join(folder, '9999_skip_probe.sql'), 'CREATE TABLE "skip_probe" ("id" integer PRIMARY KEY);');

      expect(await migrationsPending(database, folder)).toBe(true);
      const before = migratorRuns.n;
      await migrateDatabase(database, folder);
      expect(migratorRuns.n).toBe(before + 1);
      expect((await database.rows<{ t: string | null }>(sql`select to_regclass('public.skip_probe')::text as t`))[0]!.t).toBe('skip_probe');
      expect(await migrationsPending(database, folder)).toBe(false);
      expect((await applied()).length).toBe(journal.entries.length);
    });
  });
}

describe.skipIf(!process.env.DATABASE_URL)('replicas started together on an empty PostgreSQL database', () => {
  it('all start: one migrates under the advisory lock, the others wait and find nothing pending', async () => {
    const created = await createPgDatabase();
    const opened: Database[] = [];
    try {
      const before = migratorRuns.n;
      const results = await Promise.allSettled([0, 1, 2, 3].map(() => openDatabase({ url: created.url, poolSize: 2 })));
      for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      expect(migratorRuns.n).toBe(before + 1);
      const [first] = opened;
      const applied = await first!.rows<{ n: number }>(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      expect(applied[0]!.n).toBe(journalEntries().length);
      for (const d of opened) expect(d.migrations).toMatchObject({ pending: false, ahead: false, applied: journalEntries().length });
      // the lock was released: nobody holds it on this database now (advisory locks are per database; other test files
      // migrate their own databases meanwhile)
      const locks = await first!.rows<{ n: number }>(sql`select count(*)::int as n from pg_locks where locktype = 'advisory'
        and objid = ${Number(0x7472656164n & 0xffffffffn)} and database = (select oid from pg_database where datname = current_database())`);
      expect(locks[0]!.n).toBe(0);
    } finally {
      for (const d of opened) await d.close();
      await created.drop();
    }
  });
});

describe('a database migrated by a newer tread (pglite)', () => {
  it('is reported ahead and not pending', async () => {
    const database = await openDatabase({ dataDir: 'memory://' });
    try {
      expect(database.migrations).toMatchObject({ pending: false, ahead: false });
      const newest = Math.max(...journalEntries().map((e) => e.when));
      await database.rows(sql`insert into drizzle.__drizzle_migrations (hash, created_at) values ('from-a-newer-tread', ${newest + 1000})`);
      expect(await migrationState(database)).toEqual({ pending: false, ahead: true, applied: journalEntries().length + 1, known: journalEntries().length });
    } finally {
      await database.close();
    }
  });
});
