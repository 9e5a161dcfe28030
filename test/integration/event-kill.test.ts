/**
 * kill -9 during an Alertmanager storm loses nothing answered: tread runs as a process (src/main.ts), takes bodies of new
 * alerts from many clients at once (so its lanes are busy and most bodies wait in the intake), and is killed while
 * requests are in flight. A second tread on the same database applies what the first one stored, and every alert of every
 * body that got a 200 is there, exactly once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows } from '../../db/client.js';
import { createPgDatabase, drivers, pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';
import { SpawnedTread } from '../helpers/spawned.js';

const TOKEN = 'kill-test-am-token-0123456789';
const SLOW = 240_000;
const CONFIG = `organisation: Kill test
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [admin, responder] }
services:
  - { name: db, owners: [alice] }
integrations:
  - { name: am, kind: alertmanager, token: ${TOKEN} }
correlation: { window: 10m, groupBy: [service, alertname] }
`;

/** One tread process on a database, on a port of its own. */
class Tread extends SpawnedTread {
  constructor(readonly port: number, env: Record<string, string>) {
    super({ LOG_LEVEL: 'warn', PORT: String(port), ...env });
  }
}

/** POSTs a body; resolves with the status, rejects when the connection breaks. */
function post(port: number, path: string, body: string | undefined, method = 'POST'): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** An Alertmanager body of `n` firing alerts never seen before. */
function body(batch: number, n: number): string {
  const alerts = Array.from({ length: n }, (_, j) => ({
    status: 'firing', labels: { alertname: `Disk${j % 5}`, service: 'db', instance: `b${batch}-${j}` }, annotations: { summary: `disk full b${batch}-${j}` },
    startsAt: '2026-12-01T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', fingerprint: `k${batch.toString(16).padStart(6, '0')}${j.toString(16).padStart(4, '0')}`,
  }));
  return JSON.stringify({ receiver: 'tread', status: 'firing', version: '4', groupKey: `{}:{service="db"}`, alerts });
}

for (const driver of drivers) {
  describe(`kill -9 during a storm (${driver})`, () => {
    let dir: string;
    let env: Record<string, string>;
    let url: string | undefined;
    let drop = async () => {};

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tread-kill-'));
      writeFileSync(join(dir, 'tread.yaml'), CONFIG);
      env = { TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, 'data'), TREAD_PGLITE_SNAPSHOT: await pgliteSnapshotFile() };
      if (driver === 'postgres') {
        const pg = await createPgDatabase();
        drop = pg.drop;
        url = pg.url;
        env.DATABASE_URL = pg.url;
      }
    }, SLOW);
    afterAll(async () => {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('every alert of every answered body is applied once, by the next process if not by the killed one', async () => {
      const first = new Tread(await freePort(), env);
      await first.ready();
      const perBody = 50;
      const answered: number[] = [];
      let sent = 0;
      let killed = false;
      // 12 clients keep sending new bodies; the process is killed once 20 have been answered
      const client = async () => {
        while (!killed) {
          const batch = sent++;
          try {
            const status = await post(first.port, '/hooks/alertmanager', body(batch, perBody));
            if (status === 200) answered.push(batch);
            if (answered.length >= 20 && !killed) {
              killed = true;
              first.child.kill('SIGKILL');
            }
          } catch {
            return; // the connection died with the process: not answered
          }
        }
      };
      await Promise.all(Array.from({ length: 12 }, client));
      await new Promise((r) => first.child.exitCode !== null || first.child.signalCode !== null ? r(null) : first.child.once('exit', r));
      expect(first.child.signalCode).toBe('SIGKILL');
      expect(answered.length).toBeGreaterThanOrEqual(20);

      const second = new Tread(await freePort(), env);
      try {
        await second.ready();
        for (let i = 0; (await second.metric('tread_event_intake_pending')) > 0; i++) {
          if (i > 600) throw new Error('the intake did not drain');
          await new Promise((r) => setTimeout(r, 100));
        }
        const appliedBySecond = await second.metric('tread_events_ingested_total');
        console.log(JSON.stringify({ test: 'kill -9 storm', driver, sent, answered: answered.length, eventsAppliedAfterRestart: appliedBySecond }));
      } finally {
        await second.stop('SIGTERM');
      }

      const database = await openDatabase(url ? { url } : { dataDir: join(dir, 'data') });
      try {
        const rows = await queryRows<{ dedup_key: string; n: number; count: number }>(database.db, sql`
          select dedup_key, count(*)::int as n, sum(count)::int as count from alerts group by dedup_key`);
        const byKey = new Map(rows.map((r) => [r.dedup_key, r]));
        const missing: string[] = [];
        for (const batch of answered) {
          for (let j = 0; j < perBody; j++) {
            const key = `k${batch.toString(16).padStart(6, '0')}${j.toString(16).padStart(4, '0')}`;
            const row = byKey.get(key);
            if (!row) missing.push(key);
            else expect([row.n, row.count]).toEqual([1, 1]);
          }
        }
        expect(missing).toEqual([]);
        // nothing was applied twice anywhere, answered or not
        expect(rows.filter((r) => r.n !== 1 || r.count !== 1)).toEqual([]);
        const [left] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from event_intake`);
        expect(Number(left!.n)).toBe(0);
      } finally {
        await database.close();
      }
    }, SLOW);
  });
}
