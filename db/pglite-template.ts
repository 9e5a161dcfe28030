/**
 * The pre-initialised PGlite data directory a new data directory starts from (issue 17). PGlite's initdb runs a second
 * PostgreSQL in the same process, with its own WebAssembly memory and a copy of it: a first start peaked at ~850 MB of
 * resident memory. `npm run build` (scripts/pglite-template.mjs) creates and migrates one database once, into
 * dist/pglite-template/, and a first start copies it (no WebAssembly work: a restart's memory). It is used only when it
 * was made by the installed PGlite version from the same migrations; otherwise PGlite's initdb runs, as before.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, constants, cpSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a template was made from: it is used only when both match what is installed now. */
export interface TemplateKey {
  /** The version of @electric-sql/pglite that created it (its data files are that PostgreSQL build's). */
  pglite: string;
  /** sha256 of the migrations (their SQL files and drizzle-kit's journal). */
  migrations: string;
}

/** The file in the template folder that records its key. */
const KEY_FILE = 'template.json';

/** The installed PGlite's version, from its package.json. */
export function installedPgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** The key a template made now would have: the installed PGlite and the migrations in `migrationsFolder`. */
export function templateKey(migrationsFolder: string): TemplateKey {
  const hash = createHash('sha256');
  for (const name of readdirSync(migrationsFolder).filter((n) => n.endsWith('.sql')).sort()) {
    hash.update(name).update('\0').update(readFileSync(join(migrationsFolder, name))).update('\0');
  }
  hash.update(readFileSync(join(migrationsFolder, 'meta', '_journal.json')));
  return { pglite: installedPgliteVersion(), migrations: hash.digest('hex') };
}

/** Where `npm run build` puts the template: dist/pglite-template, from dist/db/ or from the sources' db/. */
export function defaultTemplateDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'pglite-template'), join(here, '..', 'dist', 'pglite-template')];
  return candidates.find((c) => existsSync(join(c, KEY_FILE))) ?? candidates[0]!;
}

/** Why `template` cannot be used for `key` (missing, another PGlite, other migrations), or undefined when it can. */
export function templateProblem(template: string, key: TemplateKey): string | undefined {
  let made: Partial<TemplateKey>;
  try {
    made = JSON.parse(readFileSync(join(template, KEY_FILE), 'utf8')) as Partial<TemplateKey>;
  } catch {
    return `no template at ${template} (npm run build makes it)`;
  }
  if (made.pglite !== key.pglite) return `the template was made by PGlite ${made.pglite}, ${key.pglite} is installed`;
  if (made.migrations !== key.migrations) return 'the template was made from other migrations';
  if (!existsSync(join(template, 'pg', 'PG_VERSION'))) return `the template at ${template} has no database`;
  return undefined;
}

/**
 * Makes `pgDir` (a data directory's `pg` folder, absent or empty) a copy of the template's database. The copy goes to a
 * folder beside it, is flushed to disk, and is renamed into place: a crash leaves either no database (the next start
 * copies again) or a whole one. Copy-on-write where the file system offers it. Leftovers of an interrupted copy are
 * removed (the caller holds the data directory's lock, so no other process is copying).
 */
export function copyTemplate(template: string, pgDir: string): void {
  const parent = dirname(pgDir);
  mkdirSync(parent, { recursive: true });
  const prefix = `${pgDir.slice(parent.length + 1)}.template-`;
  for (const name of readdirSync(parent)) if (name.startsWith(prefix)) rmSync(join(parent, name), { recursive: true, force: true });
  const partial = `${pgDir}.template-${process.pid}`;
  try {
    cpSync(join(template, 'pg'), partial, { recursive: true, mode: constants.COPYFILE_FICLONE });
    rmSync(join(partial, 'postmaster.pid'), { force: true });
    syncTree(partial);
    if (existsSync(pgDir)) rmSync(pgDir, { recursive: false }); // empty (the caller checked): rename needs it gone
    renameSync(partial, pgDir);
    syncPath(parent);
  } catch (e) {
    rmSync(partial, { recursive: true, force: true });
    throw e;
  }
}

/** Adds read permission for everyone to every file under `dir`, and read and search permission to every folder. */
function readableTree(dir: string): void {
  chmodSync(dir, statSync(dir).mode | 0o555);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readableTree(path);
    else if (entry.isFile()) chmodSync(path, statSync(path).mode | 0o444);
  }
}

/** fsync every file and folder under `dir`. */
function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) syncPath(path);
  }
  syncPath(dir);
}

function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the template in `dir` for the installed PGlite and `migrationsFolder`, unless one with that key is there
 * already; returns whether it built one. The database is created by PGlite's initdb and migrated by tread's own
 * `openDatabase` (no template, no snapshot), then closed cleanly; the folder is swapped in whole.
 */
export async function buildTemplate(dir: string, migrationsFolder: string): Promise<boolean> {
  const key = templateKey(migrationsFolder);
  if (!templateProblem(dir, key)) return false;
  const { migrateDatabase, openDatabase } = await import('./client.js');
  const work = `${dir}.build-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  try {
    const database = await openDatabase({ dataDir: work, pgliteTemplate: false, migrate: false });
    try {
      await migrateDatabase(database, migrationsFolder);
    } finally {
      await database.close();
    }
    rmSync(join(work, 'pg', 'postmaster.pid'), { force: true });
    rmSync(join(work, 'tread.lock'), { force: true });
    // Readable by every user: an image is built as root and runs as another user (PostgreSQL makes some files 0600).
    readableTree(join(work, 'pg'));
    writeFileSync(join(work, KEY_FILE), `${JSON.stringify(key, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return true;
}
