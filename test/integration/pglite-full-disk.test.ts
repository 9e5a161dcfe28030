/**
 * PGlite with its data directory on a full disk: tread (a process on the default embedded database) gets its data
 * directory on a small tmpfs, which the test then fills. Writes are answered 503 with JSON naming the full disk and a
 * log line says so, and /readyz is 503 naming it; reads and the process carry on; once space is freed writes work again, and the next start on the
 * same directory opens it with everything answered 2xx still there. Needs root to mount a tmpfs (skipped, with the
 * reason, where the machine does not allow it); the tmpfs is unmounted after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../db/client.js';
import { pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'full-disk-generic-token-0123456789';
const API = 'full-disk-api-token-0123456789';

/** Mounts a tmpfs of `size` at `dir`; the reason it cannot, or undefined once mounted. */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root: mounting a tmpfs needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `mount: ${r.error.message}`;
  if (r.status !== 0) return `mount -t tmpfs failed: ${r.stderr.trim()}`;
  return undefined;
}

const base = mkdtempSync(join(tmpdir(), 'tread-full-disk-'));
const mnt = join(base, 'mnt');
mkdirSync(mnt);
const cannotMount = mountTmpfs(mnt, '72m');
if (cannotMount) console.warn(`pglite-full-disk: skipped: ${cannotMount}`);

describe.skipIf(cannotMount !== undefined)('PGlite on a full disk (tmpfs)', () => {
  const dataDir = join(mnt, 'data');
  const filler = join(mnt, 'filler.bin');
  let snapshot: string;
  let output = '';
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    writeFileSync(join(base, 'tread.yaml'), `organisation: Full disk\ntimezone: UTC\npeople:\n  - { id: alice, name: Alice, roles: [admin] }\nintegrations:\n  - { name: gen, kind: generic, token: ${TOKEN} }\n`);
    snapshot = await pgliteSnapshotFile();
  }, 120_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill('SIGKILL'); await new Promise((r) => c.once('exit', r)); }
    spawnSync('umount', [mnt]);
    rmSync(base, { recursive: true, force: true });
  });

  /** Starts tread on the tmpfs data directory and waits until it is ready. */
  async function start(): Promise<{ child: ChildProcess; url: string }> {
    const port = await freePort();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'NODE_OPTIONS', 'SLACK_BOT_TOKEN', 'MICROSOFT_APP_ID'].includes(k) && !k.startsWith('VITEST')));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...clean, LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', TREAD_CONSOLE: '0', TREAD_CONFIG: join(base, 'tread.yaml'), TREAD_DATA_DIR: dataDir, TREAD_PGLITE_SNAPSHOT: snapshot, TREAD_API_TOKEN: API },
    });
    children.push(child);
    child.stdout!.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tread did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, url };
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  }

  /** Sends one generic event of about `kb` KB of incompressible details; its status and JSON body. */
  async function event(url: string, key: string, kb: number): Promise<{ status: number; body: any }> {
    const res = await fetch(`${url}/hooks/generic`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ summary: `full disk ${key}`, severity: 'warning', source: 'disk-test', dedupKey: key, details: { blob: randomBytes(kb * 512).toString('hex') } }),
    });
    return { status: res.status, body: await res.json() };
  }

  it('writes get 503 naming the full disk, the process stays up, and the next start opens the directory intact', async () => {
    const first = await start();
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await event(first.url, `before-${i}`, 1);
      expect(r.status).toBe(202);
      accepted.push(`before-${i}`);
    }

    // fill the tmpfs, leaving under a megabyte
    const fd = openSync(filler, 'w');
    const chunk = Buffer.alloc(1 << 20, 7);
    try {
      while (statfsSync(mnt).bavail * statfsSync(mnt).bsize > 1 << 20) writeSync(fd, chunk);
    } catch { /* ENOSPC: full */ }
    closeSync(fd);

    // events of 30 KB until the database's writes fail: each is 202 (stored) or 503 naming the disk, nothing else
    let refused: { status: number; body: any } | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      const r = await event(first.url, `fill-${i}`, 30);
      if (r.status === 202) accepted.push(`fill-${i}`);
      else refused = r;
    }
    expect(refused?.status).toBe(503);
    expect(refused!.body.error.code).toBe('event.unavailable');
    expect(refused!.body.error.message).toMatch(/disk is full .*No space left on device.*retry/);
    // a REST write is refused the same way, through the HTTP server's boundary
    const rest = await fetch(`${first.url}/api/v1/incidents`, { method: 'POST', headers: { authorization: `Bearer ${API}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'disk full incident', description: randomBytes(4900).toString('hex') }) });
    const restBody = await rest.json() as { error: { code: string; message: string } };
    expect([rest.status, restBody.error.code]).toEqual([503, 'database.unavailable']);
    expect(restBody.error.message).toMatch(/disk is full/);
    // reads still work, the process is up, and the log names the disk; readiness says writes fail
    expect((await fetch(`${first.url}/api/v1/alerts?limit=1`, { headers: { authorization: `Bearer ${API}` } })).status).toBe(200);
    const ready = await fetch(`${first.url}/readyz`);
    const readyBody = await ready.json() as { status: string; error: string };
    expect([ready.status, readyBody.status]).toEqual([503, 'unavailable']);
    expect(readyBody.error).toMatch(/disk is full.*writes fail until space is freed/);
    expect(first.child.exitCode).toBeNull();
    expect(output).toMatch(/disk is full \(53100: could not (extend|write).*No space left on device/);

    // space freed: writes work again without a restart
    rmSync(filler);
    let after: { status: number; body: any } | undefined;
    for (let i = 0; i < 50 && after?.status !== 202; i++) {
      after = await event(first.url, 'after-free', 1);
      if (after.status !== 202) await new Promise((r) => setTimeout(r, 200));
    }
    expect(after?.status).toBe(202);
    accepted.push('after-free');
    // a write committed: ready again
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    expect(await stop(first.child)).toBe(0);

    // the next start on the same directory opens it; everything answered 202 is there, once
    const second = await start();
    expect(await stop(second.child)).toBe(0);
    const database = await openDatabase({ dataDir });
    try {
      const rows = await queryRows<{ dedup_key: string; n: number }>(database.db, sql`select dedup_key, count(*)::int as n from alerts group by dedup_key`);
      const byKey = new Map(rows.map((r) => [r.dedup_key, Number(r.n)]));
      expect(accepted.filter((k) => byKey.get(k) !== 1)).toEqual([]);
      const [check] = await queryRows<{ ok: boolean }>(database.db, sql`select count(*) >= 0 as ok from incidents`);
      expect(check?.ok).toBe(true);
    } finally {
      await database.close();
    }
    console.log(JSON.stringify({ test: 'pglite full disk', accepted: accepted.length, fillEventsStoredBeforeTheFirst503: accepted.filter((k) => k.startsWith('fill-')).length }));
  }, 180_000);
});
