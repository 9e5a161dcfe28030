/**
 * The postgres connector against a real PostgreSQL (the suite's own server, DATABASE_URL; skipped without it): a
 * throw-away database, and roles and logins with a per-run prefix (names that need quoting as identifiers). Through a
 * TCP proxy tread sees the target come and go. On tread's PGlite and PostgreSQL:
 * grant → present in pg_auth_members; expiry with the controllable clock → revoked and gone; a manual GRANT outside
 * tread → drift alert; a REVOKE outside tread → drift alert (both resolved when they are gone); a grant the check does
 * not confirm → failed, owners and security told; a removal that fails → retried with backoff, one deduplicated alert
 * in the security channel until it succeeds, then resolved; a GRANT that hangs holds neither the database nor the
 * grant (a revocation commits meanwhile, and what the GRANT gave afterwards is removed again). The connection string
 * never reaches a log line.
 */
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { schema, type Database } from '../../db/client.js';
import type { Inbound } from '../../src/core/inbound.js';
import type { Logger } from '../../src/core/logger.js';
import { closePostgresConnectors, quoteIdent } from '../../src/workflows/access/connectors/postgres.js';
import { createPgDatabase, drivers, openTestDatabase } from '../helpers/db.js';
import {
  accessConfig, approvalOf, grantRow, HOUR, lastCard, lastGrantId, messageText, MINUTE, replyText, startAccessTread, type RequestTestTread,
} from '../workflows/access/access.fakes.js';

/**
 * A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored, and can hold what
 * tread sends (a statement that hangs) until released.
 */
async function proxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let holding = false;
  const held: (() => void)[] = [];
  const start = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      sockets.add(client).add(upstream);
      client.on('data', (chunk) => {
        if (holding) held.push(() => upstream.write(chunk));
        else upstream.write(chunk);
      });
      upstream.pipe(client);
      const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((ok) => server!.listen(port, '127.0.0.1', () => ok()));
    port = (server!.address() as AddressInfo).port;
  };
  await start();
  return {
    get port() { return port; },
    async cut() {
      for (const s of sockets) s.destroy();
      sockets.clear();
      await new Promise<void>((ok) => server!.close(() => ok()));
    },
    restore: start,
    /** From now on what tread sends waits (its statements hang) until `release`. */
    hold() { holding = true; },
    /** How many pieces of what tread sent are waiting. */
    get held() { return held.length; },
    release() {
      holding = false;
      for (const send of held.splice(0)) send();
    },
  };
}

for (const driver of drivers) {
  describe.skipIf(!process.env.DATABASE_URL)(`the postgres connector (${driver})`, () => {
    const prefix = `t${randomBytes(3).toString('hex')}_`;
    const role = (name: string) => `${prefix}${name}`;
    let target: { url: string; drop: () => Promise<void> };
    let admin: ReturnType<typeof postgres>;
    let link: Awaited<ReturnType<typeof proxy>>;
    let database: Database;
    let t: RequestTestTread;
    const logged: string[] = [];

    const member = async (r: string, login: string) => (await admin`select 1 from pg_auth_members am join pg_roles r on r.oid = am.roleid join pg_roles m on m.oid = am.member where r.rolname = ${r} and m.rolname = ${login}`).length > 0;
    const securityCards = () => t.port.calls.filter((c) => c.where?.channel === 'security');

    beforeAll(async () => {
      target = await createPgDatabase();
      admin = postgres(target.url, { max: 1, onnotice: () => {} });
      // the roles tread grants (names that must be quoted: a dot and a hyphen) and the people's logins
      for (const r of ['read', 'write']) await admin.unsafe(`create role ${quoteIdent(role(r))} nologin`);
      for (const p of ['dave', 'carol', 'mallory']) await admin.unsafe(`create role ${quoteIdent(role(p))} login`);
      const u = new URL(target.url);
      link = await proxy({ host: u.hostname, port: Number(u.port || 5432) });
      u.host = `127.0.0.1:${link.port}`;
      u.password = 'not-a-real-password-but-secret';
      const log: Logger = new Proxy({}, { get: () => (...args: unknown[]) => { logged.push(JSON.stringify(args)); } }) as unknown as Logger;
      database = await openTestDatabase(driver);
      const config = accessConfig({ PG_URL: u.toString(), PG_PREFIX: prefix });
      t = await startAccessTread(database, { config });
      (t.tread.app as { log: Logger }).log = log;
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      await closePostgresConnectors();
      for (const r of ['read', 'write', 'dave', 'carol', 'mallory']) await admin?.unsafe(`drop role if exists ${quoteIdent(role(r))}`);
      await admin?.end();
      await target?.drop();
    });

    it('grant: approved, then GRANT on the server, confirmed in pg_auth_members: active', async () => {
      await t.command('dave', `/access request db ${role('read')} for 1h reading the orders table`);
      const id = await lastGrantId(t);
      expect(await grantRow(t, id)).toMatchObject({ login: role('dave'), state: 'requested', connector: 'postgres' });
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect(await grantRow(t, id)).toMatchObject({ state: 'active' });
      expect(await member(role('read'), role('dave'))).toBe(true);
      const text = messageText(lastCard(t, `GRT-${id}`));
      expect(text).toContain('✓ Active until 11:00 CET (1h left).');
      expect(text).toContain(`GRANT "${role('read')}" TO "${role('dave')}"; pg_auth_members shows it`);
    });

    it('expiry with the controllable clock: REVOKE on the server, gone from pg_auth_members', async () => {
      const id = await lastGrantId(t);
      await t.advance(HOUR);
      expect(await grantRow(t, id)).toMatchObject({ state: 'expired', removal: 'done' });
      expect(await member(role('read'), role('dave'))).toBe(false);
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('Access removed at the target 11:00 CET.');
    });

    it('a GRANT outside tread is drift: an alert in the security channel, /access drift lists it, resolved when gone', async () => {
      await admin.unsafe(`grant ${quoteIdent(role('write'))} to ${quoteIdent(role('mallory'))}`);
      await t.advance(15 * MINUTE);
      const drift = replyText(await t.command('alice', '/access drift'));
      expect(drift).toContain(`db: ${role('mallory')} holds ${role('write')} without an active grant (granted outside tread?)`);
      const alertPosts = () => securityCards().filter((c) => c.method === 'post' && messageText(c.message).includes(`${role('mallory')} holds ${role('write')}`));
      expect(alertPosts()).toHaveLength(1);
      const alert = alertPosts()[0]!;
      expect(alert.message?.subject).toMatch(/^GRP-\d+$/);
      // deduplicated: the next round finds it again, and nothing new is posted or recorded
      await t.advance(15 * MINUTE);
      expect(alertPosts()).toHaveLength(1);
      const rows = await t.db.select().from(schema.alerts).where(eq(schema.alerts.integration, 'tread.access'));
      expect(rows.map((r) => [r.dedupKey, r.state])).toEqual([[`drift:db:unexpected:${role('mallory')}:${role('write')}`, 'firing']]);
      expect((await t.db.select().from(schema.auditLog).where(eq(schema.auditLog.action, 'access.drift_found'))).map((a) => a.data.login)).toEqual([role('mallory')]);
      await admin.unsafe(`revoke ${quoteIdent(role('write'))} from ${quoteIdent(role('mallory'))}`);
      await t.advance(15 * MINUTE);
      expect(replyText(await t.command('alice', '/access drift'))).toContain('No drift: every target shows exactly the active grants');
      expect(messageText(securityCards().filter((c) => c.message?.subject === alert!.message!.subject).at(-1)!.message)).toMatch(/resolved/i);
    });

    it('a REVOKE outside tread is drift too: an active grant the server does not show', async () => {
      await t.command('dave', `/access request db ${role('read')} for 2h more reading`);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect((await grantRow(t, id)).state).toBe('active');
      await admin.unsafe(`revoke ${quoteIdent(role('read'))} from ${quoteIdent(role('dave'))}`);
      await t.advance(15 * MINUTE);
      expect(replyText(await t.command('alice', '/access drift'))).toContain(`db: GRT-${id} gives ${role('dave')} ${role('read')}, but the target does not show it (removed outside tread?)`);
      await admin.unsafe(`grant ${quoteIdent(role('read'))} to ${quoteIdent(role('dave'))}`);
      await t.advance(15 * MINUTE);
      expect(replyText(await t.command('alice', '/access drift'))).toContain('No drift: every target shows exactly the active grants');
      await t.command('dave', `/access revoke GRT-${id} done reading`);
      expect(await grantRow(t, id)).toMatchObject({ state: 'revoked', removal: 'done' });
      expect(await member(role('read'), role('dave'))).toBe(false);
    });

    it('a grant the server cannot confirm fails (not active): the owners and the security channel are told', async () => {
      // erin has no login on the server
      await t.command('erin', `/access request db ${role('read')} for 1h a look`);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      const g = await grantRow(t, id);
      expect(g.state).toBe('failed');
      expect(g.outcome).toContain(`GRANT "${role('read')}" TO "${role('erin')}" failed: role "${role('erin')}" does not exist`);
      expect(t.port.calls.some((c) => c.method === 'dm' && c.user === 'carol' && String(c.message?.text).startsWith(`✗ GRT-${id} (db: ${role('read')} for Erin Owner) could not be provisioned`))).toBe(true);
      expect(securityCards().some((c) => messageText(c.message).startsWith(`✗ GRT-${id}`))).toBe(true);
    });

    it('a removal that fails is retried with backoff and alerted once (deduplicated) until it succeeds, then resolved', async () => {
      await t.command('dave', `/access request db ${role('read')} for 1h the last reading`);
      const id = await lastGrantId(t);
      await t.press('carol', 'approval.approve', await approvalOf(t, id));
      expect(await grantRow(t, id)).toMatchObject({ state: 'active', outcome: null });
      await closePostgresConnectors();
      await link.cut();
      await t.advance(HOUR);
      let g = await grantRow(t, id);
      expect(g).toMatchObject({ state: 'expired', removal: 'retrying', removalAttempts: 1 });
      expect(await member(role('read'), role('dave'))).toBe(true);
      const alerts = () => securityCards().filter((c) => c.method === 'post' && messageText(c.message).includes(`GRT-${id}: ${role('read')} on db could not be removed`));
      expect(alerts()).toHaveLength(1);
      expect(messageText(lastCard(t, `GRT-${id}`))).toContain('⚠ Removal at the target failed (1 attempt');
      await t.advance(30_000);
      await t.advance(60_000);
      g = await grantRow(t, id);
      expect(g.removalAttempts).toBe(3);
      expect(alerts()).toHaveLength(1);
      await link.restore();
      await t.advance(120_000);
      g = await grantRow(t, id);
      expect(g).toMatchObject({ removal: 'done', removalAttempts: 3 });
      expect(await member(role('read'), role('dave'))).toBe(false);
      const group = alerts()[0]!.message!.subject!;
      expect(messageText(securityCards().filter((c) => c.message?.subject === group).at(-1)!.message)).toMatch(/resolved/i);
      expect(securityCards().some((c) => messageText(c.message) === `✓ GRT-${id}: ${role('read')} on db is now removed from ${role('dave')} (after 4 attempts).`)).toBe(true);
      // the connection string (and its password) never reached a log line, though failures were logged
      expect(logged.length).toBeGreaterThan(0);
      expect(logged.join('\n')).not.toContain('not-a-real-password-but-secret');
      expect(logged.join('\n')).not.toContain(`127.0.0.1:${link.port}/`);
    });

    it('a GRANT that hangs holds nothing: a command is answered meanwhile; revoked meanwhile, what it granted is removed again', async () => {
      await t.command('dave', `/access request db ${role('read')} for 1h a hanging grant`);
      const id = await lastGrantId(t);
      link.hold();
      let approved = false;
      const approving = t.press('carol', 'approval.approve', await approvalOf(t, id)).finally(() => { approved = true; });
      try {
        await expect.poll(() => link.held, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
        // The GRANT hangs at the server; tread answers (on PGlite this waited for the GRANT while it ran in the timer's
        // transaction) and the revocation commits.
        const asked = performance.now();
        const reply = await t.tread.router.handle({
          kind: 'command', name: 'access', text: `revoke GRT-${id} changed my mind`, actor: { platform: 'console', id: 'dave' },
          where: { platform: 'console', channel: 'console' }, deliveryId: `pg-hang-${randomBytes(4).toString('hex')}`,
        } as Inbound);
        // Still hanging (the connector gives up connecting after 10 s; a statement on an open connection never).
        expect(performance.now() - asked).toBeLessThan(5000);
        expect(link.held).toBeGreaterThan(0);
        expect(approved).toBe(false);
        expect(replyText(reply)).toMatch(/revoked/i);
        expect(await grantRow(t, id)).toMatchObject({ state: 'revoked', removal: 'pending' });
      } finally {
        link.release();
      }
      await approving;
      await t.tick();
      // The GRANT went through after the grant ended: it is removed again, and the grant stays revoked.
      expect(await grantRow(t, id)).toMatchObject({ state: 'revoked', removal: 'done' });
      expect(await member(role('read'), role('dave'))).toBe(false);
    });

    it('a target that does not answer within the connector\'s timeout: the GRANT is given up on and retried, and reconciliation holds no transaction meanwhile', async () => {
      const connector = t.tread.app.config.resources.find((r) => r.name === 'db')!.connector as { timeout: number };
      const configured = connector.timeout;
      expect(configured).toBe(30_000);
      connector.timeout = 3000;
      try {
        await t.command('dave', `/access request db ${role('read')} for 1h a slow server`);
        const id = await lastGrantId(t);
        link.hold();
        const pressed = performance.now();
        await t.press('carol', 'approval.approve', await approvalOf(t, id));
        // the press came back once the connector gave up (not when the server answered: it never got the statement)
        expect(performance.now() - pressed).toBeLessThan(10_000);
        expect(await grantRow(t, id)).toMatchObject({ state: 'provisioning', grantAttempts: 1 });
        expect(logged.join('\n')).toContain('no answer within 3s');
        // reconciliation reads the target with no transaction open: commands are answered while it waits
        let reconciled = false;
        const reconciling = t.advance(15 * MINUTE).finally(() => { reconciled = true; });
        await expect.poll(() => link.held, { timeout: 5000, interval: 10 }).toBeGreaterThan(0);
        const asked = performance.now();
        const reply = await t.tread.router.handle({
          kind: 'command', name: 'access', text: 'drift', actor: { platform: 'console', id: 'alice' },
          where: { platform: 'console', channel: 'console' }, deliveryId: `pg-slow-${randomBytes(4).toString('hex')}`,
        } as Inbound);
        // (waiting for the reconcile's transaction, it took the connector's 3 s)
        expect(performance.now() - asked).toBeLessThan(2000);
        expect(reconciled).toBe(false);
        expect(replyText(reply)).toMatch(/drift/i);
        await reconciling;
        // the server answers again: the next attempt grants, and nothing is left held
        link.release();
        await t.advance(MINUTE);
        await expect.poll(async () => (await grantRow(t, id)).state, { timeout: 10_000, interval: 100 }).toBe('active');
        expect(await member(role('read'), role('dave'))).toBe(true);
        await t.command('dave', `/access revoke GRT-${id} done`);
        expect(await member(role('read'), role('dave'))).toBe(false);
      } finally {
        link.release();
        connector.timeout = configured;
      }
    });
  });
}
