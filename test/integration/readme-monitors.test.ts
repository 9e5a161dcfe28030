/**
 * The README's "Pointing a monitor at tread" snippets, read out of the README and used as they are (only the address
 * changes): the Alertmanager receiver runs in the real Prometheus Alertmanager, the Grafana contact point's settings
 * make Grafana's request, the curl commands run in a shell, over HTTP and (PagerDuty) over HTTPS with TLS_CERT_FILE.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { schema, type Database } from '../../db/client.js';
import { loadEnv } from '../../src/core/config/env.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { openTestDatabase } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';
import { RecordingPort } from '../helpers/recording-port.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const EXAMPLE = readFileSync(new URL('../../tread.example.yaml', import.meta.url), 'utf8');
const PUBLIC = 'https://tread.example.com';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

/** The first fenced block of `lang` after `marker` in the README. */
function snippet(marker: string, lang: string): string {
  const at = README.indexOf(marker);
  if (at < 0) throw new Error(`the README has no "${marker}"`);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(README.slice(at));
  if (!m) throw new Error(`no ${lang} block after "${marker}" in the README`);
  return m[1]!;
}

/** Runs a shell snippet; resolves with its stdout (rejects with stderr on a non-zero exit). */
function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => execFile('sh', ['-c', script], { env: { PATH: process.env.PATH, ...env }, timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the README\'s monitor snippets, against tread with the example organisation', () => {
  let database: Database;
  let tread: Tread;
  let https: Tread;
  const dir = mkdtempSync(join(tmpdir(), 'tread-readme-'));
  const base = () => `http://127.0.0.1:${tread.port}`;
  const alerts = (integration: string) => tread.app.db.select().from(schema.alerts).where(eq(schema.alerts.integration, integration));

  beforeAll(async () => {
    database = await openTestDatabase('pglite');
    const config = parseOrganisation(EXAMPLE, 'tread.example.yaml');
    const platforms = () => [{ platform: 'console' as const, port: new RecordingPort() }];
    tread = await startTread({ database, config, tickSeconds: 0, platforms, http: { host: '127.0.0.1', port: 0 } });
    // The HTTPS variant, configured by the variables the README names.
    const tls = /TLS_CERT_FILE=(\S+) TLS_KEY_FILE=(\S+) npm start/.exec(README);
    expect(tls, 'the README shows TLS_CERT_FILE and TLS_KEY_FILE').not.toBeNull();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
    const env = loadEnv({ TLS_CERT_FILE: join(dir, 'tls.crt'), TLS_KEY_FILE: join(dir, 'tls.key') });
    https = await startTread({ database, config, tickSeconds: 0, platforms, http: { host: '127.0.0.1', port: 0, tls: { certFile: env.TLS_CERT_FILE!, keyFile: env.TLS_KEY_FILE! } } });
  });
  afterAll(async () => {
    await https?.stop({ closeDatabase: false });
    await tread?.stop({ closeDatabase: false });
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!existsSync(ALERTMANAGER))('Alertmanager: the receiver delivers a firing alert and its resolution', async () => {
    const config = parseYaml(snippet('**Prometheus Alertmanager**', 'yaml'));
    const hook = config.receivers[0].webhook_configs[0];
    expect(hook.url).toBe(`${PUBLIC}/hooks/alertmanager`);
    hook.url = hook.url.replace(PUBLIC, base());
    // Only the timing is changed, so the test does not wait Alertmanager's default 30 s.
    Object.assign(config.route, { group_wait: '1s', group_interval: '1s', repeat_interval: '1h' });
    writeFileSync(join(dir, 'alertmanager.yml'), stringifyYaml(config));
    const port = await freePort();
    const am: ChildProcess = spawn(ALERTMANAGER, [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'am')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'], { stdio: 'ignore' });
    try {
      await until('Alertmanager', async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.status, () => 0)) === 200 || undefined);
      const alert = { labels: { alertname: 'ReadmeCheckoutDown', service: 'checkout', severity: 'critical', instance: 'web-1' }, annotations: { summary: 'Checkout is down' } };
      const post = (body: unknown) => fetch(`http://127.0.0.1:${port}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post([{ ...alert, startsAt: new Date().toISOString() }])).status).toBe(200);
      const stored = await until('the alert in tread', async () => (await alerts('prometheus')).find((a) => a.labels.alertname === 'ReadmeCheckoutDown'));
      expect(stored).toMatchObject({ summary: 'Checkout is down', service: 'checkout', severity: 'critical' });
      expect((await post([{ ...alert, endsAt: new Date(Date.now() - 1000).toISOString() }])).status).toBe(200);
      await until('the resolution in tread', async () => ((await alerts('prometheus')).find((a) => a.id === stored.id)?.state === 'resolved' ? true : undefined));
    } finally {
      am.kill('SIGTERM');
    }
  }, 90_000);

  it('Grafana: the contact point\'s URL, method and Authorization header carry Grafana\'s webhook body', async () => {
    const config = parseYaml(snippet('**Grafana**', 'yaml'));
    const receiver = config.contactPoints[0].receivers[0];
    expect(receiver.type).toBe('webhook');
    const { url, httpMethod, authorization_scheme: scheme, authorization_credentials: credentials } = receiver.settings;
    // Grafana's documented example body (webhook notifier), as unified alerting sends it.
    const body = {
      receiver: config.contactPoints[0].name, status: 'firing', orgId: 1, groupKey: '{}:{alertname="High memory usage"}', title: '[FIRING:1] High memory usage',
      alerts: [{
        status: 'firing', labels: { alertname: 'High memory usage', team: 'blue', zone: 'us-1', service: 'db' },
        annotations: { description: 'The system has high memory usage', runbook_url: 'https://myrunbook.com/runbook/1234', summary: 'This alert was triggered for zone us-1' },
        startsAt: '2021-10-12T09:51:03.157076+02:00', endsAt: '0001-01-01T00:00:00Z', generatorURL: 'https://play.grafana.org/alerting/1afz29v7z/edit',
        fingerprint: 'c6eadffa33fcdf37', silenceURL: 'https://play.grafana.org/alerting/silence/new', dashboardURL: '', panelURL: '', values: { B: 44.2, C: 1 },
      }],
    };
    const res = await fetch(String(url).replace(PUBLIC, base()), { method: httpMethod, headers: { authorization: `${scheme} ${credentials}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status, await res.clone().text()).toBe(200);
    // answered once stored in the intake: applied moments later
    const stored = await until('the Grafana alert in tread', async () => (await alerts('grafana')).find((a) => a.dedupKey === 'c6eadffa33fcdf37'));
    expect(stored).toMatchObject({ summary: 'This alert was triggered for zone us-1', service: 'db', state: 'firing' });
  });

  it('PagerDuty: the curl runs against /v2/enqueue over HTTP and, with TLS_CERT_FILE, over HTTPS', async () => {
    const command = snippet('**PagerDuty Events API v2 clients**', 'sh');
    expect(command).toContain(`${PUBLIC}/v2/enqueue`);
    const answer = JSON.parse(await sh(command.replace(PUBLIC, base())));
    expect(answer).toEqual({ status: 'success', message: 'Event processed', dedup_key: 'payments-latency' });
    const overTls = JSON.parse(await sh(command.replace(PUBLIC, `https://127.0.0.1:${https.port}`), { CURL_CA_BUNDLE: join(dir, 'tls.crt') }));
    expect(overTls).toEqual(answer);
    const stored = await until('both PagerDuty events applied', async () => (await alerts('legacy-monitor')).find((a) => a.dedupKey === 'payments-latency' && a.count === 2));
    expect(stored).toMatchObject({ summary: 'Payment API p99 above 2 s', service: 'payments', severity: 'critical', count: 2 });
  });

  it('generic: the curl to /hooks/generic stores the alert', async () => {
    const command = snippet('**Anything else**', 'sh');
    expect(command).toContain(`${PUBLIC}/hooks/generic`);
    const answer = JSON.parse(await sh(command.replace(PUBLIC, base())));
    expect(answer).toMatchObject({ status: 'accepted', dedupKey: 'db-1-disk', alertId: expect.stringMatching(/^ALR-\d+$/) });
    const [stored] = (await alerts('scripts')).filter((a) => a.dedupKey === 'db-1-disk');
    expect(stored).toMatchObject({ summary: 'Disk 91% full on db-1', severity: 'warning', source: 'db-1', service: 'db' });
  });
});
