import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, drivers } from '../helpers/db.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TOKEN = 'main-test-token-0123456789abcdef';
/** Starting tsx and PGlite from files takes seconds on a busy machine. */
const SLOW = 240_000;

/** tread started the way `npm start` starts it (src/main.ts), with a piped script on stdin. */
class Process {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'TREAD_DATA_DIR', 'TREAD_CONFIG', 'TREAD_API_TOKEN', 'PORT', 'HOST', 'NODE_OPTIONS', 'SLACK_BOT_TOKEN', 'MICROSOFT_APP_ID', 'TREAD_CONSOLE'].includes(k) && !k.startsWith('VITEST')));
    // node itself (as `npm start` runs it), with tsx as a loader: signals reach tread directly, not through npx and the tsx CLI
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...clean, LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', TREAD_API_TOKEN: TOKEN, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString('utf8'); });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString('utf8'); });
    this.exited = new Promise((done) => this.child.once('exit', (code) => done(code)));
  }

  /** Waits until `test` holds, or fails with what was printed. */
  async until(what: string, test: () => boolean, ms = SLOW - 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!test()) {
      if (this.child.exitCode !== null) throw new Error(`tread exited (${this.child.exitCode}) before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The URL from the "tread is ready" log line. */
  async ready(): Promise<string> {
    let url = '';
    await this.until('tread is ready', () => {
      for (const line of this.stderr.split('\n')) {
        if (!line.includes('"tread is ready"')) continue;
        url = (JSON.parse(line) as { url: string }).url;
        return true;
      }
      return false;
    });
    return url;
  }

  /** Sends SIGTERM and returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 30_000); // never leave a tread behind
    try {
      return await this.exited;
    } finally {
      clearTimeout(killer);
    }
  }
}

for (const driver of drivers) {
  describe(`tread from src/main.ts with a piped console script (${driver})`, () => {
    let dir: string;
    let env: Record<string, string>;
    let drop = async () => {};
    const running: Process[] = [];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tread-main-'));
      env = { TREAD_DATA_DIR: join(dir, 'data') };
      if (driver === 'postgres') {
        const pg = await createPgDatabase();
        drop = pg.drop;
        env.DATABASE_URL = pg.url;
      }
    });
    afterAll(async () => {
      for (const p of running) await p.stop().catch(() => undefined);
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers every line of the script, keeps serving after stdin ends, and stops cleanly on SIGTERM', async () => {
      const p = new Process(env);
      running.push(p);
      const url = await p.ready();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(p.stderr).toContain('using the bundled example organisation (tread.example.yaml)');
      p.child.stdin!.end([
        '/incident Checkout returns 502 for all users',
        '1',
        '/as bob',
        '/incident resolve INC-1 restarted the ingress pods',
        '/incident list all',
      ].map((l) => `${l}\n`).join(''));
      await p.until('the list', () => p.stdout.includes('INC-1 · P3 · resolved · Checkout returns 502 for all users'));
      expect(p.stdout).toContain('tread> INC-1 · P3 · new · Checkout returns 502 for all users');
      expect(p.stdout).toContain('[1] Acknowledge  [2] Set priority  [3] Assign to me  [4] Resolve');
      expect(p.stdout).toMatch(/tread> INC-1 acknowledged by Alice Chen \(0m \d+s after opening\)/);
      expect(p.stdout).toContain('tread> You are now Bob Okafor (bob)');
      expect(p.stdout).toMatch(/tread> INC-1 resolved by Bob Okafor after \d+s: restarted the ingress pods/);

      // stdin has ended: tread still serves
      await new Promise((r) => setTimeout(r, 300));
      expect(p.child.exitCode).toBeNull();
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const api = await fetch(`${url}/api/v1/incidents/INC-1`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(api.status).toBe(200);
      const body = await api.json() as { state: string; reporter: string; source: string; resolutionNotes: string; timeline: { actor: string; source: string }[] };
      expect(body).toMatchObject({ state: 'resolved', reporter: 'alice', source: 'console', resolutionNotes: 'restarted the ingress pods' });
      expect(body.timeline.map((e) => [e.actor, e.source])).toEqual([['alice', 'console'], ['alice', 'console'], ['bob', 'console']]);
      expect(p.stderr).not.toContain(TOKEN);

      expect(await p.stop()).toBe(0);
      expect(p.stderr).toContain('"stopped"');
      if (driver === 'pglite') expect(existsSync(join(dir, 'data', 'tread.lock'))).toBe(false);
    }, SLOW);

    it('starts again on the same data and finds the incident', async () => {
      const p = new Process(env);
      running.push(p);
      await p.ready();
      p.child.stdin!.end('/incident list all\n');
      await p.until('the list', () => p.stdout.includes('Incidents (all)'));
      expect(p.stdout).toContain('INC-1 · P3 · resolved · Checkout returns 502 for all users');
      expect(await p.stop()).toBe(0);
    }, SLOW);
  });
}
