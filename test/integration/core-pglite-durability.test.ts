/**
 * PGlite on disk: the data-directory lock between processes, a stale lock taken over, and kill -9 in the middle of
 * writes followed by a restart on the same directory (migrations run, committed rows are there, writing works).
 * Other processes run test/db/pglite-child.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLockedError, migrationsFolder, openDatabase, type Database } from '../../db/client.js';
import { pgliteSnapshotFile } from '../helpers/db.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const CHILD = join(root, 'test', 'db', 'pglite-child.ts');
/** Migrations in the journal now (read when checking: others may be adding one while this runs). */
const migrations = () => (JSON.parse(readFileSync(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first line matching, or rejects when the process ends first. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The snapshot a new data directory starts from (skipping PGlite's initdb) in the lock tests; the kill -9 test's writer
 * creates its directory the way tread does without one.
 */
let snapshot: string | undefined;

function child(mode: string, dir: string): Child {
  const from = snapshot && mode !== 'write' ? { TREAD_PGLITE_SNAPSHOT: snapshot } : {};
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir], { cwd: root, env: { ...process.env, DATABASE_URL: '', ...from } });
  const lines: string[] = [];
  let err = '';
  let buffer = '';
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.match(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
    }
  });
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => { err += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  return {
    proc, lines, exited, stderr: () => err,
    waitFor(match, timeoutMs = 90_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out; output: ${lines.join('\n')}\n${err}`)), timeoutMs);
        waiters.push({ match, resolve: (l) => { clearTimeout(timer); res(l); } });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          rej(new Error(`child ended (${code ?? signal}) before the expected line; output: ${lines.join('\n')}\n${err}`));
        });
      });
    },
  };
}

/** Runs a child to its end and parses its last JSON line. */
async function runChild(mode: string, dir: string): Promise<{ code: number | null; result: Record<string, any>; child: Child }> {
  const c = child(mode, dir);
  const { code } = await c.exited;
  const last = [...c.lines].reverse().find((l) => l.startsWith('{'));
  if (!last) throw new Error(`no result from ${mode}: ${c.lines.join('\n')}\n${c.stderr()}`);
  return { code, result: JSON.parse(last), child: c };
}

/** A pid that belonged to a process that has ended. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

const tempDirs: string[] = [];
function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `tread-${name}-`));
  tempDirs.push(d);
  return join(d, 'data');
}

describe('the PGlite data directory', () => {
  let first: Database | undefined;
  let dirA: string;

  beforeAll(async () => {
    dirA = tempDir('lock');
    snapshot = await pgliteSnapshotFile();
    first = await openDatabase({ dataDir: dirA, pgliteSnapshot: snapshot }); // the one PGlite of this process
  });
  afterAll(async () => {
    await first?.close();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });

  it('a second process gets DataDirLockedError with a clear message while the first holds it', async () => {
    expect(readFileSync(join(dirA, 'tread.lock'), 'utf8').trim()).toBe(String(process.pid));
    const { code, result } = await runChild('open', dirA);
    expect(code).toBe(3);
    expect(result).toMatchObject({ ok: false, name: 'DataDirLockedError', code: 'db.locked' });
    expect(result.message).toBe(
      `The data directory ${resolve(dirA)} is in use by another tread process (pid ${process.pid}). ` +
      'Stop it first, or set TREAD_DATA_DIR to another directory (or DATABASE_URL to share PostgreSQL).',
    );
    // The holder is undisturbed: its lock is intact and it still reads and writes.
    expect(readFileSync(join(dirA, 'tread.lock'), 'utf8').trim()).toBe(String(process.pid));
    await first!.db.execute(sql`insert into deliveries (id) values ('still-mine')`);
    expect(await first!.rows(sql`select id from deliveries`)).toEqual([{ id: 'still-mine' }]);
  }, 120_000);

  it('the same process cannot open a directory it already holds', async () => {
    await expect(openDatabase({ dataDir: dirA })).rejects.toBeInstanceOf(DataDirLockedError);
    await expect(openDatabase({ dataDir: `${dirA}/./` })).rejects.toThrow(`The data directory ${resolve(dirA)} is already open in this process (pid ${process.pid}); close it first.`);
    const link = join(dirA, '..', 'link');
    symlinkSync(dirA, link);
    await expect(openDatabase({ dataDir: link })).rejects.toThrow(/already open in this process/);
    // Its lock is untouched.
    expect(readFileSync(join(dirA, 'tread.lock'), 'utf8').trim()).toBe(String(process.pid));
    expect(await first!.rows(sql`select id from deliveries`)).toEqual([{ id: 'still-mine' }]);
  });

  it('closing releases the lock, and another process can then open the directory', async () => {
    await first!.close();
    first = undefined;
    expect(existsSync(join(dirA, 'tread.lock'))).toBe(false);
    const { code, result } = await runChild('verify', dirA);
    expect(code).toBe(0);
    expect(result).toMatchObject({ ok: true, migrations: migrations() });
    expect(existsSync(join(dirA, 'tread.lock'))).toBe(false);
  }, 120_000);

  it('this process is refused while another process holds the directory', async () => {
    const dir = tempDir('held');
    const holder = child('hold', dir);
    await holder.waitFor((l) => l === 'ready');
    const error = await openDatabase({ dataDir: dir }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as Error).message).toContain(`(pid ${holder.proc.pid})`);
    holder.proc.stdin.end();
    expect((await holder.exited).code).toBe(0);
    expect(existsSync(join(dir, 'tread.lock'))).toBe(false);
  }, 120_000);

  it.each([
    ['a dead process', async () => `${await deadPid()}\n`],
    ['nothing readable', async () => 'garbage'],
  ])('a stale lock left by %s is taken over', async (_what, content) => {
    const dir = tempDir('stale');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tread.lock'), await content());
    const { code, result } = await runChild('verify', dir);
    expect(code).toBe(0);
    expect(result).toMatchObject({ ok: true, appended: 1, migrations: migrations() });
    expect(existsSync(join(dir, 'tread.lock'))).toBe(false);
  }, 120_000);

  it('survives kill -9 in the middle of writes, twice: committed rows are kept, migrations run, writing goes on', async () => {
    const dir = tempDir('crash');
    let committed = 0;
    const figures: Record<string, unknown>[] = [];
    for (let round = 1; round <= 2; round++) {
      const writer = child('write', dir);
      await writer.waitFor((l) => l === 'ready');
      // Let it commit a good number of rows, then pull the plug while it is writing.
      const target = committed + 60;
      await writer.waitFor((l) => l.startsWith('committed ') && Number(l.split(' ')[1]) >= target);
      writer.proc.kill('SIGKILL');
      const { signal } = await writer.exited;
      expect(signal).toBe('SIGKILL');
      const acknowledged = Math.max(...writer.lines.filter((l) => l.startsWith('committed ')).map((l) => Number(l.split(' ')[1])));
      // The lock is left behind naming the dead writer.
      expect(readFileSync(join(dir, 'tread.lock'), 'utf8').trim()).toBe(String(writer.proc.pid));

      const started = Date.now();
      const { code, result } = await runChild('verify', dir);
      expect(code, JSON.stringify(result)).toBe(0);
      expect(result.problems).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.migrations).toBe(migrations());
      // Every acknowledged commit survived (one in flight may or may not have), each with its timeline row.
      expect(result.audit).toBeGreaterThanOrEqual(acknowledged);
      expect(result.audit).toBeLessThanOrEqual(acknowledged + 1);
      expect(result.timeline).toBe(result.audit);
      expect(result.max).toBe(result.audit);
      expect(result.appended).toBe(result.audit + 1);
      committed = result.appended;
      figures.push({ round, acknowledged, recovered: result.audit, restartMs: Date.now() - started });
    }
    expect(existsSync(join(dir, 'tread.lock'))).toBe(false);
    console.log(JSON.stringify({ test: 'pglite kill -9', rounds: figures }));
  }, 300_000);
});
