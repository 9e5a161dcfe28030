import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, drivers } from '../helpers/db.js';
import { SpawnedTread } from '../helpers/spawned.js';

const TOKEN = 'main-test-token-0123456789abcdef';
/** Starting tsx and PGlite from files takes seconds on a busy machine. */
const SLOW = 240_000;

/** tread started the way `npm start` starts it (src/main.ts), with a piped script on stdin. */
class Process extends SpawnedTread {
  /** Its console reads a script from stdin; the REST API is on. */
  constructor(env: Record<string, string>) {
    super({ TREAD_API_TOKEN: TOKEN, ...env }, { stdin: 'pipe' });
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
