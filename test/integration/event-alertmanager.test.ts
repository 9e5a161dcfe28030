/**
 * The real Prometheus Alertmanager (Debian package prometheus-alertmanager) sending to tread: alerts posted to its API are
 * grouped by it, delivered to /hooks/alertmanager with the receiver's bearer token, and resolved. Skipped when the binary is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema, type Database } from '../../db/client.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';
import { http, PROM_TOKEN, startEventTread } from '../workflows/event/event.fakes.js';

const BINARY = '/usr/bin/prometheus-alertmanager';

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

for (const driver of drivers) {
  describe.skipIf(!existsSync(BINARY))(`Prometheus Alertmanager → tread (${driver})`, () => {
    let database: Database;
    let t: Awaited<ReturnType<typeof startEventTread>>;
    let am: ChildProcess | undefined;
    let amPort = 0;
    let dir = '';
    let amLog = '';

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startEventTread(database);
      dir = mkdtempSync(join(tmpdir(), 'tread-am-'));
      amPort = await freePort();
      writeFileSync(join(dir, 'alertmanager.yml'), `
route:
  receiver: tread
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tread
    webhook_configs:
      - url: http://127.0.0.1:${t.tread.port}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: ${PROM_TOKEN}
`);
      am = spawn(BINARY, [
        `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address=', '--log.level=warn',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      am.stderr!.on('data', (c: Buffer) => { amLog += c.toString(); });
      await until('Alertmanager to be ready', async () => {
        try {
          return (await http(amPort, 'GET', '/-/ready')).status === 200 ? true : undefined;
        } catch {
          return undefined;
        }
      });
    }, 60_000);

    afterAll(async () => {
      if (am && am.exitCode === null) {
        am.kill('SIGTERM');
        await new Promise((r) => am!.once('exit', r));
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });

    const openAlerts = () => t.tread.app.db.select().from(schema.alerts).where(eq(schema.alerts.integration, 'prometheus'));

    it('delivers a group of firing alerts as one card and their resolution', async () => {
      const startsAt = new Date(Date.now() - 60_000).toISOString();
      const alerts = ['db-1:5432', 'db-2:5432'].map((instance) => ({
        labels: { alertname: 'RealAMDown', service: 'db', severity: 'critical', instance },
        annotations: { summary: `Database ${instance} down` },
        startsAt, generatorURL: 'http://prometheus.local/graph',
      }));
      const posted = await http(amPort, 'POST', '/api/v2/alerts', { body: alerts });
      expect(posted.status).toBe(200);

      const firing = await until('tread to store the firing alerts', async () => {
        const rows = (await openAlerts()).filter((a) => a.labels.alertname === 'RealAMDown' && a.state !== 'resolved');
        return rows.length === 2 ? rows : undefined;
      });
      expect(firing.map((a) => a.source).sort()).toEqual(['db-1:5432', 'db-2:5432']);
      expect(firing[0]!.groupId).toBe(firing[1]!.groupId);
      expect(firing[0]!.dedupKey).toMatch(/^[0-9a-f]{16}$/); // Alertmanager's fingerprint
      const [group] = await t.tread.app.db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, firing[0]!.groupId!));
      expect(group!.groupKey).toContain('alertname="RealAMDown"');
      await t.tread.dispatcher.flush();
      const posts = t.port.about(`GRP-${group!.id}`, 'post');
      expect(posts).toHaveLength(1);

      const ended = alerts.map((a) => ({ ...a, endsAt: new Date(Date.now() - 1000).toISOString() }));
      expect((await http(amPort, 'POST', '/api/v2/alerts', { body: ended })).status).toBe(200);
      await until('tread to resolve them', async () => {
        const rows = (await openAlerts()).filter((a) => a.labels.alertname === 'RealAMDown');
        return rows.length === 2 && rows.every((a) => a.state === 'resolved') ? rows : undefined;
      });
      const [after] = await t.tread.app.db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, group!.id));
      expect(after!.state).toBe('resolved');
      expect(amLog).not.toMatch(/level=error.*tread/i);
    }, 60_000);
  });
}
