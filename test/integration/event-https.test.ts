/** PagerDuty clients that only speak HTTPS: with a certificate, tread's own server answers /v2/enqueue over TLS. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { eventConfig, RecordingPort } from '../workflows/event/event.fakes.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/pagerduty/pdjs-trigger-request.json', import.meta.url), 'utf8'));

for (const driver of drivers) {
  describe(`PagerDuty Events v2 over HTTPS (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    let dir: string;
    let ca: Buffer;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tread-tls-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      ca = readFileSync(join(dir, 'cert.pem'));
      database = await openTestDatabase(driver);
      tread = await startTread({
        database, config: eventConfig(), tickSeconds: 0, platforms: () => [{ platform: 'console', port: new RecordingPort() }],
        http: { host: '127.0.0.1', port: 0, tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } },
      });
    });
    afterAll(async () => {
      await tread?.stop({ closeDatabase: false });
      await database?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('accepts the pdjs request over TLS with PagerDuty\'s answer', async () => {
      const body = JSON.stringify(fixture.body);
      const answer = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1', port: tread.port, method: 'POST', path: '/v2/enqueue', ca,
          headers: { 'content-type': fixture.headers['content-type'], 'user-agent': fixture.headers['user-agent'], 'content-length': Buffer.byteLength(body) },
        }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end(body);
      });
      expect(answer).toEqual({ status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'inc-1' } });
    });
  });
}
