/**
 * tread's patch to postgres.js (patches/postgres+3.4.9.patch, applied by patch-package at `npm ci`): a write flushed
 * after the connection closed threw from a setImmediate and ended the process (porsager/postgres#1066, #1154, #1208),
 * and a connection ended while it fetched array types left an unhandled rejection (#1192, #1223; the fault test
 * test/integration/db-faults.test.ts met it).
 * The version test fails when postgres.js changes, to make someone check whether the new release fixes it (then drop
 * the patch) or whether the patch must be redone. The crash tests end this process's own backends on DATABASE_URL's
 * server, in a child process, with the installed (patched) driver and with an unpatched copy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const patchFile = join(root, 'patches', 'postgres+3.4.9.patch');
const packageDir = join(root, 'node_modules', 'postgres');
const child = fileURLToPath(new URL('./postgres-close-child.mjs', import.meta.url));

describe('the postgres.js patch', () => {
  it('is for the installed postgres version: a new version means checking the upstream fix and dropping or redoing the patch', () => {
    const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
    expect(version, `postgres is ${version}, the patch was written for 3.4.9: if ${version} guards nextWrite against a closed socket (porsager/postgres#1208), delete patches/postgres+3.4.9.patch and the README's note; otherwise regenerate the patch for ${version} (npx patch-package postgres)`).toBe('3.4.9');
  });

  it('is applied to every copy of the connection that Node can load (import, require, workerd)', () => {
    const imported = fileURLToPath(import.meta.resolve('postgres'));
    const required = createRequire(import.meta.url).resolve('postgres');
    const copies = new Set([join(dirname(imported), 'connection.js'), join(dirname(required), 'connection.js'), join(packageDir, 'cf', 'src', 'connection.js')]);
    expect(copies.size).toBe(3);
    for (const file of copies) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).toContain('if (socket === null || socket.destroyed) {');
      expect(text.match(/chunk = nextWriteTimer = null \/\/ tread patch/g), file).toHaveLength(2);
      // #1192/#1223: the array-type query's failure while connecting is handled, and the old backend's error not replayed
      expect(text, file).toContain('return fetchArrayTypes().catch(');
      expect(text, file).toContain('errorResponse = null // tread patch');
    }
  });
});

describe.skipIf(!process.env.DATABASE_URL)('postgres.js when its backends are terminated (PostgreSQL)', () => {
  const unpatched = mkdtempSync(join(tmpdir(), 'tread-unpatched-postgres-'));
  afterAll(() => rmSync(unpatched, { recursive: true, force: true }));

  /** Runs one scenario of the child against a copy of postgres.js; its exit code, its JSON line and its stderr. */
  function run(entry: string, scenario: string): { status: number | null; result?: Record<string, unknown>; stderr: string } {
    const r = spawnSync(process.execPath, [child, entry, scenario], { encoding: 'utf8', timeout: 80_000, env: process.env });
    const line = r.stdout.trim().split('\n').pop();
    return { status: r.status, result: line ? JSON.parse(line) as Record<string, unknown> : undefined, stderr: r.stderr };
  }

  it.each(['transaction', 'reserved', 'load'])('patched, %s: every query settles (CONNECTION_CLOSED, never a hang) and the process lives on', (scenario) => {
    const { status, result, stderr } = run(join(packageDir, 'src', 'index.js'), scenario);
    expect(stderr).not.toContain('TypeError');
    expect(status).toBe(0);
    expect(result?.pooledAfter).toBe('ok');
    expect(JSON.stringify(result)).not.toContain('hang');
    if (scenario === 'transaction') expect(result?.transaction).toBe('CONNECTION_CLOSED');
    if (scenario === 'reserved') expect(result?.reservedSecond).toBe('CONNECTION_CLOSED');
    if (scenario === 'load') expect(Object.keys(result?.outcomes as object).sort()).toEqual(expect.arrayContaining(['ok']));
  }, 90_000); // a query is given 30 s before it counts as a hang (the child's settle())

  it('unpatched, the same load crashes the process with the reported TypeError (so the scenarios above test the patch)', () => {
    cpSync(packageDir, join(unpatched, 'postgres'), { recursive: true });
    execFileSync('patch', ['-s', '-R', '-p3', '-d', join(unpatched, 'postgres'), '-i', patchFile]);
    expect(readFileSync(join(unpatched, 'postgres', 'src', 'connection.js'), 'utf8')).not.toContain('tread patch');
    // The race is timing-dependent; on this machine it crashes on the first run nearly always. Three tries at most.
    let crash: ReturnType<typeof run> | undefined;
    for (let i = 0; i < 3 && !crash; i++) {
      const r = run(join(unpatched, 'postgres', 'src', 'index.js'), 'load');
      if (r.status !== 0) crash = r;
    }
    expect(crash?.stderr).toContain("TypeError: Cannot read properties of null (reading 'write')");
    expect(crash?.stderr).toContain('nextWrite');
  });
});
