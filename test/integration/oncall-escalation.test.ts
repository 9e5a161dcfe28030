import { and, eq, gt } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { schema, type Database } from '../../db/client.js';
import { verifyAudit } from '../../src/core/audit.js';
import { DomainError } from '../../src/core/errors.js';
import { SCHEDULER_PERSON, type Person } from '../../src/core/identity.js';
import { enqueue } from '../../src/core/outbox.js';
import { readTimeline } from '../../src/core/timeline.js';
import { timersOf } from '../../src/core/timers.js';
import {
  escalateNow, escalationsOf, startEscalation, stopEscalation, type EscalationInput,
} from '../../src/workflows/oncall/escalation.service.js';
import { drivers, openTestDatabase } from '../helpers/db.js';
import { oncallConfig, START, startTestTread } from '../workflows/oncall/fakes.js';

const MIN = 60_000;

for (const driver of drivers) {
  describe(`escalation (${driver})`, () => {
    let database: Database;
    let t: Awaited<ReturnType<typeof startTestTread>>;
    let n = 0;
    let subject: string;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startTestTread(database);
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });
    beforeEach(async () => {
      t.clock.set(START);
      t.tread.app.config = oncallConfig();
      t.port.calls.length = 0;
      subject = `ALR-${++n}`;
    });

    const app = () => t.tread.app;
    const person = (id: string): Person => ({ id, name: id[0]!.toUpperCase() + id.slice(1), roles: new Set(['responder']), known: true });
    const actor = (id: string) => ({ person: person(id), source: 'console' as const });
    const start = async (input: Partial<EscalationInput> & { policy: string }) => {
      const row = await app().db.transaction((tx) => startEscalation(tx, app(), { subject, title: 'Disk full on db-1', service: 'checkout', ...input }, app().clock.now()));
      await t.tread.dispatcher.flush();
      return row;
    };
    /** Moves the clock and runs one scheduler tick (timers, then the outbox). */
    const after = async (ms: number) => {
      t.clock.advance(ms);
      await t.tread.scheduler.tick();
    };
    const pagesTo = (who?: string) => t.port.dms(who).filter((c) => c.message?.subject === subject);
    const timeline = async () => (await readTimeline(app().db, subject)).map((e) => `${e.kind}: ${e.text}`);

    it('pages step 1 at once with the record\'s own Acknowledge, and level 2 after the wait when nobody acknowledges', async () => {
      const row = await start({ policy: 'standard' });
      expect(row).toMatchObject({ state: 'active', level: 0, pass: 0, pages: 1, policyName: 'standard' });
      const first = pagesTo();
      expect(first.map((c) => c.user)).toEqual(['alice']); // alice is primary in the week of 5 Jan
      expect(first[0]!.message!.buttons![0]).toEqual({ actionId: 'event.ack', label: 'Acknowledge', value: subject, style: 'primary' });
      expect(first[0]!.message!.context).toMatch(/on call for Payments primary; step 1 of 2, policy standard/);

      await after(14 * MIN);
      expect(pagesTo()).toHaveLength(1);
      await after(1 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'carol']);

      await after(10 * MIN); // after the last step's wait: paging ends
      expect(pagesTo()).toHaveLength(2);
      const [esc] = await escalationsOf(app().db, subject);
      expect(esc).toMatchObject({ state: 'exhausted', pages: 2 });
      expect(await timersOf(app().db, subject)).toEqual([]);
      await after(60 * MIN);
      expect(pagesTo()).toHaveLength(2);

      const lines = await timeline();
      expect(lines).toEqual([
        'escalation: Escalation started with policy standard (2 steps)',
        'page: Paged Alice (on call for Payments primary; step 1 of 2, policy standard)',
        'escalation: No acknowledgement after 15m: escalating to step 2 of 2, policy standard',
        'page: Paged Carol (on call for secondary; step 2 of 2, policy standard)',
        'escalation: Nobody acknowledged: every step of policy standard was paged (2 pages); paging has ended',
      ]);
      const audit = await app().db.select().from(schema.auditLog).where(eq(schema.auditLog.subject, subject));
      expect(audit.map((a) => a.action)).toEqual(['oncall.escalation_started', 'oncall.paged', 'oncall.escalated', 'oncall.paged', 'oncall.escalation_exhausted']);
      expect((await verifyAudit(app().db)).ok).toBe(true);
    });

    it('stops every pending step when acknowledged: nothing more is paged', async () => {
      subject = `INC-${n}`;
      await start({ policy: 'standard' });
      expect(pagesTo()[0]!.message!.buttons![0]!.actionId).toBe('incident.ack');
      t.clock.advance(5 * MIN);
      const stopped = await app().db.transaction((tx) => stopEscalation(tx, subject, actor('alice'), app().clock.now()));
      expect(stopped).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
      expect(await timersOf(app().db, subject)).toEqual([]);
      for (let i = 0; i < 6; i++) await after(10 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice']);
      expect((await timeline()).at(-1)).toBe('escalation: Paging stopped: acknowledged by Alice after 5m (1 page sent)');
      // A second acknowledgement finds nothing running.
      expect(await app().db.transaction((tx) => stopEscalation(tx, subject, actor('bob'), app().clock.now()))).toBeUndefined();
    });

    it('stops paging when the record is resolved before anyone acknowledged', async () => {
      await start({ policy: 'standard' });
      const stopped = await app().db.transaction((tx) => stopEscalation(tx, subject, actor('bob'), app().clock.now(), 'resolved'));
      expect(stopped).toMatchObject({ state: 'resolved', acknowledgedBy: null });
      await after(30 * MIN);
      expect(pagesTo()).toHaveLength(1);
      expect((await timeline()).at(-1)).toBe('escalation: Paging stopped: resolved by Bob after 0s (1 page sent)');
    });

    it('honours the repeat count: two rounds through both steps, then stops', async () => {
      await start({ policy: 'looping' });
      for (let i = 0; i < 8; i++) await after(5 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'bob', 'alice', 'bob']);
      const contexts = pagesTo().map((c) => c.message!.context);
      expect(contexts[2]).toMatch(/step 1 of 2, round 2 of 2, policy looping/);
      const [esc] = await escalationsOf(app().db, subject);
      expect(esc).toMatchObject({ state: 'exhausted', pages: 4, level: 1, pass: 1 });
    });

    it('keeps the policy it started with when the config changes later', async () => {
      await start({ policy: 'standard' });
      const edited = oncallConfig();
      edited.escalationPolicies.find((p) => p.name === 'standard')!.steps[1] = { targets: [{ kind: 'person', person: 'bob' }], waitMs: 60 * MIN };
      t.tread.app.config = edited;
      await after(15 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'carol']);
    });

    it('escalates now on request, and restarts the wait from there', async () => {
      await start({ policy: 'looping' });
      t.clock.advance(1 * MIN);
      const row = await app().db.transaction((tx) => escalateNow(tx, app(), subject, actor('carol'), app().clock.now()));
      await t.tread.dispatcher.flush();
      expect(row).toMatchObject({ level: 1, pass: 0 });
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'bob']);
      await after(4 * MIN); // 5 minutes after the start, but only 4 after bob's page
      expect(pagesTo()).toHaveLength(2);
      await after(1 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'bob', 'alice']);
      expect(await timeline()).toContain('escalation: Carol escalated now: step 2 of 2, round 1 of 2, policy looping');
    });

    it('refuses to escalate what is not escalating, and people without the responder role', async () => {
      const err = await app().db.transaction((tx) => escalateNow(tx, app(), 'ALR-9999', actor('alice'), app().clock.now())).catch((e) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect(err.code).toBe('oncall.not_escalating');
      await start({ policy: 'standard' });
      const requester: Person = { id: 'dave', name: 'Dave', roles: new Set(['requester']), known: true };
      const denied = await app().db.transaction((tx) => escalateNow(tx, app(), subject, { person: requester, source: 'console' }, app().clock.now())).catch((e) => e);
      expect(denied.code).toBe('auth.forbidden');
    });

    it('says when the last step was already paged', async () => {
      await start({ policy: 'standard' });
      await app().db.transaction((tx) => escalateNow(tx, app(), subject, actor('alice'), app().clock.now()));
      const err = await app().db.transaction((tx) => escalateNow(tx, app(), subject, actor('alice'), app().clock.now())).catch((e) => e);
      expect(err.code).toBe('oncall.escalation_exhausted');
    });

    it('posts a channel step to the configured channel of the platforms that are on, with the other targets of the step', async () => {
      await start({ policy: 'with-channel' });
      await after(5 * MIN);
      const posts = t.port.calls.filter((c) => c.method === 'post' && c.message?.subject === subject);
      expect(posts.map((c) => c.where!.channel)).toEqual(['ops']); // Slack is off: only the console channel
      expect(posts[0]!.message!.buttons![0]!.actionId).toBe('event.ack');
      // bob by name, and alice as primary on call (paged once at step 2 even though also paged at step 1).
      expect(pagesTo().map((c) => c.user)).toEqual(['alice', 'bob', 'alice']);
      expect(await timeline()).toContain('page: Posted the page to Slack C0999, console ops (step 2 of 2, policy with-channel)');
    });

    it('moves on at once past a step that reaches nobody', async () => {
      t.clock.set('2026-01-05T20:00:00Z'); // outside office hours
      await start({ policy: 'gappy' });
      expect(pagesTo().map((c) => c.user)).toEqual(['bob']);
      const lines = await timeline();
      expect(lines).toContain('page: Nobody is on call for office right now (step 1 of 2, policy gappy)');
      expect(lines).toContain('escalation: Nobody could be reached at step 1 of 2, policy gappy; moving on at once');
    });

    it('pages whoever an override puts on call', async () => {
      await app().db.insert(schema.oncallOverrides).values({
        schedule: 'primary', person: 'bob', startsAt: new Date(START), endsAt: new Date(Date.parse(START) + 3_600_000), createdBy: 'erin', source: 'console', createdAt: new Date(START),
      });
      await start({ policy: 'standard' });
      expect(pagesTo().map((c) => c.user)).toEqual(['bob']);
      await app().db.delete(schema.oncallOverrides);
    });

    it('uses the newest card of the record and keeps its buttons after Acknowledge', async () => {
      await app().db.transaction(async (tx) => {
        await enqueue(tx, { kind: 'post', where: { platform: 'console', channel: 'checkout' }, subject, message: { title: `${subject} Disk full`, text: 'db-1 at 99%', buttons: [{ actionId: 'event.resolve', label: 'Resolve', value: subject }, { actionId: 'event.ack', label: 'Ack', value: subject }] } });
      });
      await start({ policy: 'standard' });
      const page = pagesTo()[0]!.message!;
      expect(page.title).toBe(`${subject} Disk full`);
      expect(page.text).toBe('db-1 at 99%');
      expect(page.buttons!.map((b) => b.actionId)).toEqual(['event.ack', 'event.resolve']);
    });

    it('keeps one running escalation per record', async () => {
      await start({ policy: 'standard' });
      await start({ policy: 'looping' });
      const rows = await escalationsOf(app().db, subject);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.policyName).toBe('standard');
      expect(pagesTo()).toHaveLength(1);
      // After an acknowledgement a new escalation may start.
      await app().db.transaction((tx) => stopEscalation(tx, subject, { person: SCHEDULER_PERSON, source: 'scheduler' }, app().clock.now()));
      await start({ policy: 'looping' });
      expect((await escalationsOf(app().db, subject)).map((r) => r.state)).toEqual(['active', 'acknowledged']);
    });

    it('can wait before the first page', async () => {
      const row = await start({ policy: 'looping', delayMs: 2 * MIN });
      expect(row).toMatchObject({ level: -1, pages: 0 });
      expect(pagesTo()).toHaveLength(0);
      await after(2 * MIN);
      expect(pagesTo().map((c) => c.user)).toEqual(['alice']);
      expect(await timeline()).toContain('escalation: Paging starts: step 1 of 2, round 1 of 2, policy looping');
    });

    it('rejects an unknown policy with a coded error', async () => {
      const err = await start({ policy: 'nope' }).catch((e) => e);
      expect(err).toBeInstanceOf(DomainError);
      expect(err.code).toBe('oncall.unknown_policy');
    });

    it('pages through the incident workflow, and the page\'s Acknowledge stops it', async () => {
      const reply = await t.command('alice', '/incident Checkout errors service:checkout');
      expect(reply.kind).not.toBe('ephemeral');
      const inc = `INC-${(await app().db.select().from(schema.incidents).orderBy(schema.incidents.id)).at(-1)!.id}`;
      const page = t.port.dms('alice').find((c) => c.message?.subject === inc);
      expect(page?.message?.buttons?.[0]).toMatchObject({ actionId: 'incident.ack', value: inc });
      await t.send('alice', { kind: 'action', actionId: 'incident.ack', value: inc });
      const [esc] = await app().db.select().from(schema.escalations).where(and(eq(schema.escalations.subject, inc)));
      expect(esc).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
      for (let i = 0; i < 4; i++) await after(10 * MIN);
      expect(t.port.dms().filter((c) => c.message?.subject === inc && c.message?.context?.startsWith('Paging'))).toHaveLength(1);
    });

    it('cancelling a paging incident stops its escalation (recorded as cancelled), and nobody is paged again', async () => {
      // Earlier tests here started escalations on made-up INC-n subjects: only the ones this incident started count.
      const lastEscalation = Math.max(0, ...(await app().db.select().from(schema.escalations)).map((e) => e.id));
      await t.command('alice', '/incident Checkout false alarm service:checkout');
      const inc = `INC-${(await app().db.select().from(schema.incidents).orderBy(schema.incidents.id)).at(-1)!.id}`;
      await t.command('bob', `/incident cancel ${inc} false alarm`);
      const escalations = await app().db.select().from(schema.escalations).where(and(eq(schema.escalations.subject, inc), gt(schema.escalations.id, lastEscalation)));
      expect(escalations.map((e) => e.state)).toEqual(['cancelled']);
      const pages = () => t.port.dms().filter((c) => c.message?.subject === inc && c.message?.context?.startsWith('Paging')).length;
      const before = pages();
      expect(before).toBe(1); // the first page went out when the incident opened
      expect(await timersOf(app().db, inc).then((ts) => ts.filter((x) => x.kind === 'oncall.escalate'))).toEqual([]);
      for (let i = 0; i < 4; i++) await after(10 * MIN);
      expect(pages()).toBe(before);
    });
  });
}
