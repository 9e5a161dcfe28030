/**
 * The known error database on a fixed corpus: weighted ranking (symptoms and error codes over the title over the
 * workaround), service filtering, highlighted snippets, retiring, versions; hints on new incidents from chat, REST and
 * alerts (their labels), the threshold, and feedback changing the order for a service; `/ask` through the same search.
 * PGlite and PostgreSQL.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { applyEvents } from '../../../src/workflows/event/event.ingest.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { hintsOf, lastIncidentId, lastKnownErrorId, lastProblemId, latestCard, openIncident, replyText, startProblemTread, type ProblemTestTread } from './problem.fakes.js';

/** Publishes a known error through chat (a problem, then its known error) and returns its id. */
async function publish(t: ProblemTestTread, title: string, fields: string): Promise<number> {
  await t.command('bob', `/problem new ${title}`);
  const prb = await lastProblemId(t);
  const reply = await t.command('bob', `/problem known-error PRB-${prb} ${fields}`);
  expect(replyText(reply)).toMatch(/^Published KE-\d+/);
  return lastKnownErrorId(t);
}

/** The known error ids `/problem kedb …` answers, in order. */
async function kedb(t: ProblemTestTread, words: string): Promise<string[]> {
  return [...replyText(await t.command('dave', `/problem kedb ${words}`)).matchAll(/\*(KE-\d+) ·/g)].map((m) => m[1]!);
}

for (const driver of drivers) {
  describe(`the known error database (${driver})`, () => {
    let t: ProblemTestTread;
    const ke: Record<string, number> = {};
    treadPerFile(driver, (database) => startProblemTread(database, { http: true }), (s) => { t = s; });

    beforeAll(async () => {
      // the same word "gateway" in the symptoms of one, the title of another, the workaround of a third
      ke.symptoms = await publish(t, 'Payments time out at the provider service:payments', 'symptoms:"Card payments fail with gateway timeout" workaround:"Retry after a minute" services:payments');
      ke.title = await publish(t, 'Gateway certificate expired service:payments', 'symptoms:"TLS handshake fails for card payments" workaround:"Renew the certificate" services:payments');
      ke.workaround = await publish(t, 'Refunds stuck in pending service:payments', 'symptoms:"Refunds stay pending for days" workaround:"Resend them through the gateway admin page" services:payments');
      // an error code is weighted like the symptoms
      ke.code = await publish(t, 'Database snapshot too old service:db', 'symptoms:"Long reports abort" codes:ORA-01555 workaround:"Run reports on the replica" services:db');
      // two known errors about restarting checkout pods, for the feedback test; and one for any service
      ke.oom = await publish(t, 'Checkout pods restart when out of memory service:checkout', 'symptoms:"checkout pods restart repeatedly, OOMKilled" workaround:"Raise the memory limit to 2Gi" services:checkout');
      ke.drain = await publish(t, 'Checkout pods restart during node drains service:checkout', 'symptoms:"checkout pods restart during node drain" workaround:"Wait for the drain to finish" services:checkout');
      ke.anywhere = await publish(t, 'DNS lookups fail intermittently', 'symptoms:"DNS lookups fail with SERVFAIL" workaround:"Use the secondary resolver" services:""');
    });

    it('ranks a word in the symptoms over the title over the workaround, and highlights it', async () => {
      expect(await kedb(t, 'gateway')).toEqual([`KE-${ke.symptoms}`, `KE-${ke.title}`, `KE-${ke.workaround}`]);
      const text = replyText(await t.command('dave', '/problem kedb gateway'));
      expect(text).toContain('Card payments fail with *gateway* timeout');
      expect(text).toContain('*Workaround:* Retry after a minute');
      // an error code is found by its parts and ranks like symptoms
      expect(await kedb(t, 'ORA-01555')).toEqual([`KE-${ke.code}`]);
    });

    it('every word first, then some of the words; filtered by service (known errors of no service always count)', async () => {
      const text = replyText(await t.command('dave', '/problem kedb card payments refunds'));
      expect(text.indexOf(`KE-${ke.symptoms}`)).toBeGreaterThan(-1);
      expect(text).toContain('_(some of the words)_');
      expect(await kedb(t, 'fail service:db')).toEqual([`KE-${ke.anywhere}`]);
      expect((await kedb(t, 'fail service:payments')).sort()).toEqual([`KE-${ke.symptoms}`, `KE-${ke.title}`, `KE-${ke.anywhere}`].sort());
      expect(replyText(await t.command('dave', '/problem kedb fail service:wifi'))).toMatch(/unknown service "wifi"/);
      expect(replyText(await t.command('dave', '/problem kedb zebra crossing'))).toBe('No known error matches “zebra crossing”.');
    });

    it('REST: ranked with snippets, a service filter, bad parameters named', async () => {
      const res = await t.api('GET', '/api/v1/known-errors?q=gateway&service=payments');
      expect(res.status).toBe(200);
      expect(res.body.items.map((i: { id: string }) => i.id)).toEqual([`KE-${ke.symptoms}`, `KE-${ke.title}`, `KE-${ke.workaround}`]);
      expect(res.body.items[0]).toMatchObject({ title: 'Payments time out at the provider', workaround: 'Retry after a minute', services: ['payments'], partial: false });
      expect(res.body.items[0].rank).toBeGreaterThan(res.body.items[1].rank);
      const bad = await t.api('GET', '/api/v1/known-errors?q=&service=wifi&sort=x');
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['q', 'service', 'sort']);
    });

    it('edits keep every version; retiring keeps it readable and out of matching', async () => {
      const id = ke.workaround;
      expect(replyText(await t.command('bob', `/problem known-error KE-${id} edit workaround:"Resend them from the payments admin page" codes:REF-17`))).toBe(`KE-${id} changed (workaround, errorCodes); now version 2.`);
      expect(replyText(await t.command('bob', `/problem known-error KE-${id} edit workaround:"Resend them from the payments admin page"`))).toBe(`KE-${id} already says that; nothing changed.`);
      expect(await kedb(t, 'gateway')).not.toContain(`KE-${id}`);
      expect(await kedb(t, 'REF-17')).toEqual([`KE-${id}`]);
      expect(replyText(await t.command('dave', `/problem known-error KE-${id} edit workaround:"x"`))).toMatch(/may not publish or change known errors/);
      expect(replyText(await t.command('bob', `/problem known-error KE-${id} retire the refund system was replaced`))).toBe(`KE-${id} retired: it stays readable and no longer matches incidents; now version 3.`);
      expect(await kedb(t, 'REF-17')).toEqual([]);
      expect(replyText(await t.command('dave', `/problem known-error KE-${id}`))).toMatch(new RegExp(`KE-${id} · retired · Refunds stuck in pending`));
      const history = replyText(await t.command('dave', `/problem known-error KE-${id} history`));
      expect(history).toContain(`History of KE-${id} (3 versions)`);
      expect(history).toMatch(/\*v1\* · .* · Bob Okafor: published\n {2}_Refunds stuck in pending_ — workaround: Resend them through the gateway admin page/);
      expect(history).toMatch(/\*v2\* · .* · Bob Okafor: changed workaround, errorCodes/);
      expect(history).toMatch(/\*v3\* · .* · Bob Okafor: the refund system was replaced\n.*\(retired\)/);
      const rest = await t.api('GET', `/api/v1/known-errors/KE-${id}`);
      expect(rest.status).toBe(200);
      expect(rest.body).toMatchObject({ id: `KE-${id}`, state: 'retired', version: 3, retiredBy: 'bob', errorCodes: ['REF-17'] });
      expect(rest.body.versions.map((v: { version: number; fields: { workaround: string; state: string } }) => [v.version, v.fields.state, v.fields.workaround])).toEqual([
        [1, 'published', 'Resend them through the gateway admin page'], [2, 'published', 'Resend them from the payments admin page'], [3, 'retired', 'Resend them from the payments admin page'],
      ]);
      expect(replyText(await t.command('bob', `/problem known-error KE-${id} publish`))).toBe(`KE-${id} published again; now version 4.`);
      expect(await kedb(t, 'REF-17')).toEqual([`KE-${id}`]);
      expect((await t.api('GET', '/api/v1/known-errors/KE-999')).status).toBe(404);
    });

    it('a new incident from chat shows the best known errors above the threshold; unrelated ones show none', async () => {
      const id = await openIncident(t, 'Checkout pods restart again service:checkout');
      expect((await hintsOf(t, id)).map((h) => h.knownErrorId)).toEqual([ke.oom, ke.drain]);
      const card = latestCard(t, `INC-${id}`);
      expect(card).toContain(`Known error KE-${ke.oom} may match* (Checkout pods restart when out of memory) — workaround: Raise the memory limit to 2Gi`);
      expect(card).toContain(`Known error KE-${ke.drain} may match*`);
      const none = await openIncident(t, 'Printer on floor 3 jams service:checkout');
      expect(await hintsOf(t, none)).toEqual([]);
      expect(latestCard(t, `INC-${none}`)).not.toContain('Known error');
    });

    it('"Not related" lowers that known error for that service: the next similar incident shows the other first', async () => {
      const first = await openIncident(t, 'Checkout pods restart repeatedly, OOMKilled, out of memory service:checkout');
      expect((await hintsOf(t, first)).sort((a, b) => b.rank - a.rank).map((h) => h.knownErrorId)).toEqual([ke.oom, ke.drain]);
      expect(replyText(await t.press('dave', 'problem.kedb.unrelated', `INC-${first} KE-${ke.oom}`))).toBe(`Thanks: KE-${ke.oom} will rank lower for checkout.`);
      expect(latestCard(t, `INC-${first}`)).not.toContain(`KE-${ke.oom}`);
      const second = await openIncident(t, 'Checkout pods restart repeatedly, OOMKilled, out of memory service:checkout');
      expect((await hintsOf(t, second)).sort((a, b) => b.rank - a.rank).map((h) => h.knownErrorId)).toEqual([ke.drain, ke.oom]);
      const stats = replyText(await t.command('dave', '/problem kedb stats'));
      expect(stats).toMatch(new RegExp(`\\*KE-${ke.oom}\\* Checkout pods restart when out of memory: shown 3, worked 0, not related 1`));
      expect(replyText(await t.press('dave', 'problem.kedb.unrelated', `INC-${first} KE-${ke.code}`))).toBe(`KE-${ke.code} was not suggested for INC-${first}.`);
    });

    it('incidents opened over REST and for alerts are matched too; alert labels are searched', async () => {
      const created = await t.api('POST', '/api/v1/incidents', { title: 'Checkout pods restart in zone b', service: 'checkout' });
      expect(created.status).toBe(201);
      // (KE-oom ranks lower for checkout since it was "not related" above: only the other one is shown)
      expect((await hintsOf(t, Number(String(created.body.id).slice(4)))).map((h) => h.knownErrorId)).toEqual([ke.drain]);
      // the alert's summary alone matches one word of a known error for any service ("fail"), below the threshold; its
      // labels carry the error code
      await t.db.transaction((tx) => applyEvents(tx, t.tread.app, [{
        integration: 'prometheus', dedupKey: 'kedb-1', action: 'trigger', summary: 'Reporting job failed', severity: 'critical', source: 'prom',
        service: 'db', labels: { alertname: 'ReportJobFailed', error: 'ORA-01555' }, details: {}, links: [], startsAt: null, raw: {},
      }], t.clock.now()));
      await t.tick();
      const fromAlert = await lastIncidentId(t);
      expect((await hintsOf(t, fromAlert)).map((h) => h.knownErrorId)).toEqual([ke.code]);
    });

    it('/ask answers with known errors through the same search', async () => {
      const reply = await t.command('dave', '/ask why do long reports abort with ORA-01555');
      expect(replyText(reply)).toContain(`KE-${ke.code} · Database snapshot too old* (known error)`);
      expect(replyText(reply)).toContain('*Workaround:* Run reports on the replica');
    });
  });
}
