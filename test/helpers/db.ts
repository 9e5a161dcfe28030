/** Test databases: one in-memory PGlite per test file, and a fresh PostgreSQL database per file when DATABASE_URL is set. */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { migrationsFolder, openDatabase, type Database } from '../../db/client.js';

export type Driver = 'pglite' | 'postgres';

/** The drivers to run database tests on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export const drivers: Driver[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** Opens a migrated database for one test file. PostgreSQL gets a database of its own, dropped on close. */
export async function openTestDatabase(driver: Driver): Promise<Database> {
  if (driver === 'pglite') return openTestPglite();
  const { url, drop } = await createPgDatabase();
  const database = await openDatabase({ url });
  return {
    ...database,
    async close() {
      await database.close();
      await drop();
    },
  };
}

/** Creates an empty PostgreSQL database on DATABASE_URL's server; returns its URL and how to drop it. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set');
  const name = `tread_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = postgres(base, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * The migrated, empty PGlite data directory the test files start from, saved once (in the temporary directory, named
 * after PGlite's version and the migrations, so a new migration makes a new one): loading it takes about 1 s where
 * creating and migrating a database takes 3–5 s, in each of the suite's files.
 */
function snapshotFile(): string {
  const hash = createHash('sha256');
  hash.update(readFileSync(join(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), '..', 'package.json')));
  const folder = migrationsFolder();
  for (const name of readdirSync(folder).filter((n) => n.endsWith('.sql')).sort()) hash.update(name).update(readFileSync(join(folder, name)));
  hash.update(readFileSync(join(folder, 'meta', '_journal.json')));
  return join(tmpdir(), `tread-test-pglite-${hash.digest('hex').slice(0, 16)}.tar`);
}

async function openTestPglite(): Promise<Database> {
  const file = snapshotFile();
  if (existsSync(file)) return openDatabase({ dataDir: 'memory://', pgliteSnapshot: file });
  const database = await openDatabase({ dataDir: 'memory://' });
  await saveSnapshot(database, file);
  return database;
}

/** Saves a fresh database's snapshot; another worker may save one at the same time: each renames its own into place. */
async function saveSnapshot(database: Database, file: string): Promise<void> {
  const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const snapshot = await database.snapshot!();
  writeFileSync(partial, Buffer.from(await snapshot.arrayBuffer()));
  renameSync(partial, file);
}

/**
 * The path of the snapshot of a migrated, empty PGlite database (made now if missing), for processes a test starts
 * (`TREAD_PGLITE_SNAPSHOT`) and for data directories it opens (`pgliteSnapshot`): a new directory then skips initdb.
 */
export async function pgliteSnapshotFile(): Promise<string> {
  const file = snapshotFile();
  if (existsSync(file)) return file;
  const database = await openDatabase({ dataDir: 'memory://' });
  try {
    await saveSnapshot(database, file);
  } finally {
    await database.close();
  }
  return file;
}
