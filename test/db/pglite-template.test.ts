/**
 * The pre-initialised template a new PGlite data directory starts from (db/pglite-template.ts, issue 17): a directory
 * copied from it has the same schema and migration state as one PGlite's initdb creates and the migrations fill; a
 * template made by another PGlite version is not used (initdb runs); an interrupted copy is cleaned up; a process killed
 * with SIGKILL right after its first start leaves a directory that opens. Also: tread's PostgreSQL settings reach
 * PGlite, and can be overridden.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalEntries, migrationsFolder, openDatabase, parsePgliteSettings, type Database } from '../../db/client.js';
import { buildTemplate, templateKey, templateProblem } from '../../db/pglite-template.js';
import { pgliteSnapshotFile } from '../helpers/db.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const CHILD = join(root, 'test', 'db', 'pglite-child.ts');

/** Everything of the schema a migration makes, and drizzle's record of the migrations, as sorted text. */
async function schemaDump(database: Database): Promise<Record<string, unknown[]>> {
  const q = (query: ReturnType<typeof sql>) => database.rows(query);
  return {
    schemas: await q(sql`select nspname from pg_namespace where nspname not like 'pg\_%' and nspname <> 'information_schema' order by 1`),
    tables: await q(sql`select table_schema, table_name, table_type from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2`),
    columns: await q(sql`select table_schema, table_name, column_name, ordinal_position, data_type, udt_name, is_nullable, column_default,
      character_maximum_length, numeric_precision, is_identity, is_generated, generation_expression
      from information_schema.columns where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 4`),
    indexes: await q(sql`select schemaname, tablename, indexname, indexdef from pg_indexes
      where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2, 3`),
    constraints: await q(sql`select n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid) as def
      from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') order by 1, 2, 3`),
    types: await q(sql`select n.nspname, t.typname, t.typtype, array(select enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder) as labels
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and t.typtype in ('e', 'd', 'c') and t.typrelid = 0 order by 1, 2`),
    sequences: await q(sql`select sequence_schema, sequence_name, data_type, start_value, increment from information_schema.sequences order by 1, 2`),
    functions: await q(sql`select n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) as args
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema') order by 1, 2, 3`),
    triggers: await q(sql`select event_object_table, trigger_name, action_timing, event_manipulation from information_schema.triggers order by 1, 2, 4`),
    extensions: await q(sql`select extname, extversion from pg_extension order by 1`),
    migrations: await q(sql`select id, hash, created_at::text as created_at from drizzle.__drizzle_migrations order by id`),
    encoding: await q(sql`select pg_encoding_to_char(encoding) as encoding, datcollate, datctype from pg_database where datname = current_database()`),
  };
}

/** Runs test/db/pglite-child.ts; resolves when it printed a line matching `until`, with the child and its lines. */
function startChild(mode: string, dir: string, env: NodeJS.ProcessEnv, until: RegExp) {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], { cwd: root, env: { ...process.env, DATABASE_URL: '', TREAD_PGLITE_SNAPSHOT: '', ...env } });
  const lines: string[] = [];
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<NodeJS.Signals | number | null>((r) => proc.on('exit', (code, signal) => r(signal ?? code)));
  const seen = new Promise<void>((res, rej) => {
    let buffer = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => {
      buffer += c;
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      lines.push(...parts);
      if (parts.some((l) => until.test(l))) res();
    });
    void exited.then((how) => rej(new Error(`child ended (${how}) first: ${lines.join('\n')}\n${err}`)));
  });
  return { proc, lines, seen, exited };
}

describe('the pre-initialised PGlite template', () => {
  const temp = mkdtempSync(join(tmpdir(), 'tread-template-'));
  const template = join(temp, 'template');
  const open: Database[] = [];
  let fromTemplate: Database;
  let fromInitdb: Database;

  beforeAll(async () => {
    expect(await buildTemplate(template, migrationsFolder())).toBe(true);
    expect(await buildTemplate(template, migrationsFolder())).toBe(false); // its key matches: nothing to do
  }, 180_000);
  afterAll(async () => {
    for (const d of open) await d.close().catch(() => undefined);
    rmSync(temp, { recursive: true, force: true });
  });

  it('records the installed PGlite and the migrations it was made from', () => {
    const key = templateKey(migrationsFolder());
    expect(JSON.parse(readFileSync(join(template, 'template.json'), 'utf8'))).toEqual(key);
    expect(key.pglite).toMatch(/^\d+\.\d+\.\d+/);
    expect(templateProblem(template, key)).toBeUndefined();
    expect(templateProblem(template, { ...key, pglite: '0.0.1' })).toBe(`the template was made by PGlite ${key.pglite}, 0.0.1 is installed`);
    expect(templateProblem(template, { ...key, migrations: 'other' })).toBe('the template was made from other migrations');
    expect(existsSync(join(template, 'pg', 'postmaster.pid'))).toBe(false);
  });

  it('is readable by every user (an image is built as root and runs as another user)', () => {
    const unreadable: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        const mode = statSync(path).mode;
        if (entry.isDirectory()) {
          if ((mode & 0o005) !== 0o005) unreadable.push(path);
          walk(path);
        } else if ((mode & 0o004) === 0) unreadable.push(path);
      }
    };
    walk(join(template, 'pg'));
    expect(unreadable).toEqual([]);
    expect(readdirSync(join(template, 'pg', 'base')).length).toBeGreaterThan(0);
  });

  it('a new data directory is copied from it, and has the schema and migration state initdb and the migrations give', async () => {
    fromTemplate = await openDatabase({ dataDir: join(temp, 'a'), pgliteTemplate: template });
    open.push(fromTemplate);
    expect(fromTemplate.pgliteStart).toEqual({ from: 'template' });

    // A template from another PGlite version is refused, so this directory is made by PGlite's initdb and migrated.
    const stale = join(temp, 'stale');
    mkdirSync(join(stale, 'pg'), { recursive: true });
    writeFileSync(join(stale, 'template.json'), JSON.stringify({ ...templateKey(migrationsFolder()), pglite: '0.0.1' }));
    writeFileSync(join(stale, 'pg', 'PG_VERSION'), '18\n');
    fromInitdb = await openDatabase({ dataDir: join(temp, 'b'), pgliteTemplate: stale });
    open.push(fromInitdb);
    expect(fromInitdb.pgliteStart?.from).toBe('initdb');
    expect(fromInitdb.pgliteStart?.templateProblem).toMatch(/^the template was made by PGlite 0\.0\.1, /);

    const [a, b] = [await schemaDump(fromTemplate), await schemaDump(fromInitdb)];
    expect(a).toEqual(b);
    // Not two empty dumps: tread's tables, indexes and every migration are there.
    expect(a.tables!.length).toBeGreaterThan(30);
    expect(a.indexes!.length).toBeGreaterThan(30);
    expect(a.migrations).toHaveLength(journalEntries().length);
    expect(a.tables).toContainEqual({ table_schema: 'public', table_name: 'incidents', table_type: 'BASE TABLE' });

    // and it works: a write, read back
    await fromTemplate.db.execute(sql`insert into deliveries (id) values ('from-template')`);
    expect(await fromTemplate.rows(sql`select id from deliveries`)).toEqual([{ id: 'from-template' }]);
  }, 180_000);

  it('an existing directory is opened as it is, not copied again', async () => {
    await fromTemplate.close();
    open.splice(open.indexOf(fromTemplate), 1);
    const again = await openDatabase({ dataDir: join(temp, 'a'), pgliteTemplate: template });
    open.push(again);
    expect(again.pgliteStart).toEqual({ from: 'existing' });
    expect(await again.rows(sql`select id from deliveries`)).toEqual([{ id: 'from-template' }]);
  }, 60_000);

  it('the leftover of an interrupted copy is removed, and the copy made again', async () => {
    const dir = join(temp, 'c');
    mkdirSync(join(dir, 'pg.template-99999', 'base'), { recursive: true });
    writeFileSync(join(dir, 'pg.template-99999', 'PG_VERSION'), '18\n');
    const database = await openDatabase({ dataDir: dir, pgliteTemplate: template });
    open.push(database);
    expect(database.pgliteStart).toEqual({ from: 'template' });
    expect(readdirSync(dir).sort()).toEqual(['pg', 'tread.lock']);
    expect(await database.rows(sql`select count(*)::int as n from drizzle.__drizzle_migrations`)).toEqual([{ n: journalEntries().length }]);
  }, 60_000);

  it('a process killed with SIGKILL right after its first start leaves a directory that opens, migrated and writable', async () => {
    const dir = join(temp, 'killed');
    const child = startChild('hold', dir, { TREAD_PGLITE_TEMPLATE: template }, /^ready$/);
    await child.seen;
    expect(JSON.parse(child.lines.find((l) => l.startsWith('{'))!)).toMatchObject({ opened: true, from: 'template' });
    child.proc.kill('SIGKILL');
    expect(await child.exited).toBe('SIGKILL');

    const database = await openDatabase({ dataDir: dir, pgliteTemplate: template });
    open.push(database);
    expect(database.pgliteStart).toEqual({ from: 'existing' });
    expect(await schemaDump(database)).toEqual(await schemaDump(fromInitdb));
    await database.db.execute(sql`insert into deliveries (id) values ('after-kill')`);
    expect(await database.rows(sql`select id from deliveries`)).toEqual([{ id: 'after-kill' }]);
  }, 120_000);
});

describe('PostgreSQL settings for PGlite', () => {
  it('parses name=value pairs and names a bad one', () => {
    expect(parsePgliteSettings(' shared_buffers=32MB\twork_mem=8MB ')).toEqual({ shared_buffers: '32MB', work_mem: '8MB' });
    expect(parsePgliteSettings('')).toEqual({});
    expect(() => parsePgliteSettings('shared_buffers 32MB')).toThrow('"shared_buffers" is not name=value');
  });

  it('tread\'s settings reach PGlite, and an override wins', async () => {
    const snapshot = await pgliteSnapshotFile();
    const show = async (database: Database) => (await database.rows<{ shared_buffers: string; work_mem: string }>(
      sql`select current_setting('shared_buffers') as shared_buffers, current_setting('work_mem') as work_mem`))[0];
    const plain = await openDatabase({ dataDir: 'memory://', pgliteSnapshot: snapshot });
    try {
      expect(await show(plain)).toEqual({ shared_buffers: '16MB', work_mem: '4MB' });
    } finally {
      await plain.close();
    }
    const tuned = await openDatabase({ dataDir: 'memory://', pgliteSnapshot: snapshot, pgliteSettings: 'shared_buffers=32MB work_mem=8MB' });
    try {
      expect(await show(tuned)).toEqual({ shared_buffers: '32MB', work_mem: '8MB' });
    } finally {
      await tuned.close();
    }
  }, 120_000);
});
