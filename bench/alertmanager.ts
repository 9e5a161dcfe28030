/**
 * Prometheus Alertmanager as the peer of the ingestion benchmark: started from its Debian package on loopback with an
 * empty route (it stores alerts in memory and notifies nobody), so its `POST /api/v2/alerts` rate can be measured with
 * the same load generator and the same alerts as tread's webhooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/helpers/net.js';

/** Where the Debian package puts it (`apt-get install prometheus-alertmanager`). */
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** A running Alertmanager. */
export interface Alertmanager {
  port: number;
  version: string;
  stop(): Promise<void>;
}

/** True when the binary is installed; the benchmark says how to install it otherwise. */
export function alertmanagerInstalled(): boolean {
  return existsSync(ALERTMANAGER_BIN);
}

/** Starts Alertmanager on a free loopback port with a route that notifies nobody, and waits until it is ready. */
export async function startAlertmanager(): Promise<Alertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'tread-bench-am-'));
  writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: nobody\n  group_by: [alertname, service]\nreceivers:\n  - name: nobody\n');
  const port = await freePort();
  const child: ChildProcess = spawn(ALERTMANAGER_BIN, [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v2/status`);
      if (res.ok) {
        const status = (await res.json()) as { versionInfo?: { version?: string } };
        return { port, version: status.versionInfo?.version ?? 'unknown', stop };
      }
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`Alertmanager did not start: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

/** An alert of an Alertmanager webhook body. */
interface WebhookAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** The alerts of an Alertmanager webhook body as Alertmanager's own API takes them (`POST /api/v2/alerts`). */
export function postableAlerts(webhookBody: { alerts: WebhookAlert[] }): unknown[] {
  return webhookBody.alerts.map((a) => ({
    labels: a.labels, annotations: a.annotations, startsAt: a.startsAt,
    ...(a.status === 'resolved' ? { endsAt: a.endsAt } : {}), ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
  }));
}
