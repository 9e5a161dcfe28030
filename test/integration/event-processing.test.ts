/**
 * Processing end to end (real HTTP server, real database, recording chat port, manual clock): correlation and card updates,
 * routing to incidents and paging, the card's buttons, silences, maintenance, flapping, heartbeats, and /event.
 */
import { eq, sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { schema } from '../../db/client.js';
import { verifyAudit } from '../../src/core/audit.js';
import { readTimeline } from '../../src/core/timeline.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';
import {
  amBody, eventConfig, GENERIC_TOKEN, HEARTBEAT_TOKEN, PROM_TOKEN, replyText, START, startEventTread,
} from '../workflows/event/event.fakes.js';

const MIN = 60_000;

for (const driver of drivers) {
  describe(`event processing (${driver})`, () => {
    let t: Awaited<ReturnType<typeof startEventTread>>;
    let n = 0;
    let tag: string;

    treadPerFile(driver, (database) => startEventTread(database), (started) => { t = started; });
    beforeEach(async () => {
      t.clock.set(START);
      t.tread.app.config = eventConfig();
      t.port.calls.length = 0;
      tag = `t${++n}`;
      // Each test starts from a quiet system: no open alerts, no silences, no pending timers.
      await t.tread.app.db.execute(sql`update alerts set state = 'resolved', resolved_at = now() where state <> 'resolved'`);
      await t.tread.app.db.execute(sql`update alert_groups set state = 'resolved', accepting = false`);
      await t.tread.app.db.execute(sql`update silences set ends_at = now() - interval '1 second'`);
      await t.tread.app.db.execute(sql`delete from timers`);
      await t.tread.app.db.execute(sql`update escalations set state = 'acknowledged' where state = 'active'`);
    });

    const db = () => t.tread.app.db;
    /** A generic event. */
    const generic = (summary: string, labels: Record<string, string>, severity = 'error', status: 'firing' | 'resolved' = 'firing', dedupKey?: string) =>
      t.hook('/hooks/generic', { summary, severity, source: 'mon-1', labels, status, ...(dedupKey ? { dedupKey } : {}) }, GENERIC_TOKEN);
    const alertById = async (id: string) => (await db().select().from(schema.alerts).where(eq(schema.alerts.id, Number(id.slice(4)))))[0]!;
    const groupById = async (id: number) => (await db().select().from(schema.alertGroups).where(eq(schema.alertGroups.id, id)))[0]!;
    const after = async (ms: number) => {
      t.clock.advance(ms);
      await t.tick();
    };

    it('correlates a storm into one card per service and alertname, with coalesced updates', async () => {
      const services = ['db', 'checkout', 'payments'];
      const answers = await Promise.all(Array.from({ length: 90 }, (_, i) =>
        generic(`${tag} disk ${i}`, { service: services[i % 3]!, alertname: `Disk${tag}`, instance: `h${i}` }, 'warning')));
      expect(answers.every((a) => a.status === 202)).toBe(true);
      // each answer says what happened, or that the event waits in the intake behind a batch in progress
      for (const a of answers) expect(a.body.outcome === 'queued' ? a.body.alertId : a.body.outcome).toBe(a.body.outcome === 'queued' ? null : 'created');
      await t.settle();
      const alerts = await db().select().from(schema.alerts).where(sql`${schema.alerts.summary} like ${`${tag} disk %`}`);
      expect(alerts).toHaveLength(90);
      const groups = [...new Set(alerts.map((a) => a.groupId))];
      expect(groups).toHaveLength(3);
      const posts = t.port.calls.filter((c) => c.method === 'post' && c.message?.subject?.startsWith('GRP-'));
      expect(posts).toHaveLength(3);
      expect(posts.map((p) => p.where!.channel).sort()).toEqual(['checkout', 'console', 'db-alerts']);
      // counts arrive once correlation.cards.refresh (10 s) has passed: at most one update per group, of low priority,
      // and each card ends up showing all 30
      const before = t.port.calls.length;
      await t.tick();
      expect(t.port.calls.slice(before).filter((c) => c.method === 'update')).toEqual([]);
      t.clock.advance(10_000);
      await t.tick();
      const updates = t.port.calls.slice(before).filter((c) => c.method === 'update');
      expect(updates.length).toBeLessThanOrEqual(3);
      for (const g of groups) {
        const last = t.port.calls.filter((c) => c.message?.subject === `GRP-${g}`).at(-1)!;
        expect(last.message!.text).toContain('*30 alerts* (30 firing)');
        expect(last.message!.text).toContain('_Grouped: same service=');
      }
      const g = await groupById(groups[0]!);
      expect(g).toMatchObject({ alertCount: 30, openCount: 30, reason: expect.stringContaining(`alertname=Disk${tag}`) });
      // repeats: counted, one more update at the next tick, no new posts
      t.port.calls.length = 0;
      for (let i = 0; i < 3; i++) await generic(`${tag} disk 0`, { service: 'db', alertname: `Disk${tag}`, instance: 'h0' }, 'warning');
      expect(t.port.calls).toEqual([]);
      t.clock.advance(10_000);
      await t.tick();
      expect(t.port.calls.map((c) => c.method)).toEqual(['update']);
      // REST shows when the window closes, and null once it has (before any new alert clears the stored flag)
      const open = await t.api(`/api/v1/alert-groups/GRP-${groups[0]}`);
      expect(Date.parse(open.body.acceptingUntil)).toBeGreaterThan(t.clock.now().getTime());
      // after the window a new alert with the same key opens a new group
      t.clock.advance(6 * MIN);
      expect((await t.api(`/api/v1/alert-groups/GRP-${groups[0]}`)).body.acceptingUntil).toBeNull();
      const late = await generic(`${tag} disk late`, { service: 'db', alertname: `Disk${tag}`, instance: 'h99' }, 'warning');
      const lateAlert = await alertById(late.body.alertId);
      expect(groups).not.toContain(lateAlert.groupId);
    });

    it('routes: warning for payments stays quiet (rule), critical opens an incident and pages its on-call; the card Acknowledge stops paging', async () => {
      const quiet = await generic(`${tag} slow`, { service: 'payments', alertname: 'Slow' }, 'warning');
      expect((await alertById(quiet.body.alertId)).incidentId).toBeNull();
      const loud = await generic(`${tag} db down`, { service: 'db', alertname: 'DBDown' }, 'critical');
      const a = await alertById(loud.body.alertId);
      const g = await groupById(a.groupId!);
      expect(g.incidentId).toBeTruthy();
      expect(a.incidentId).toBe(g.incidentId);
      expect(g.escalationSubject).toBe(`INC-${g.incidentId}`);
      const [incident] = await db().select().from(schema.incidents).where(eq(schema.incidents.id, g.incidentId!));
      expect(incident).toMatchObject({ impact: 'medium', urgency: 'high', priority: 2, service: 'db', state: 'new' });
      expect(t.port.dms('alice').map((c) => c.message!.subject)).toEqual([`INC-${g.incidentId}`]);
      const card = t.port.about(`GRP-${g.id}`, 'post')[0]!.message!;
      expect(replyText({ kind: 'ephemeral', message: card })).toContain(`Incident: INC-${g.incidentId}`);

      const reply = await t.press('alice', 'event.ack', `GRP-${g.id}`);
      expect(reply.kind).toBe('card');
      expect(replyText(reply)).toContain('acknowledged by Alice');
      expect((await groupById(g.id)).state).toBe('acknowledged');
      expect((await alertById(loud.body.alertId))).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
      // nobody else is paged after the wait
      await after(16 * MIN);
      await after(11 * MIN);
      expect(t.port.dms().filter((c) => c.message?.subject === `INC-${g.incidentId}`)).toHaveLength(1);
      const [esc] = await db().select().from(schema.escalations).where(eq(schema.escalations.subject, `INC-${g.incidentId}`));
      expect(esc).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice' });
      expect((await readTimeline(db(), `GRP-${g.id}`)).map((e) => e.kind)).toEqual(expect.arrayContaining(['opened', 'incident', 'ack']));
      expect((await verifyAudit(db())).ok).toBe(true);
      const audit = await db().select().from(schema.auditLog).where(eq(schema.auditLog.subject, `GRP-${g.id}`));
      expect(audit.map((r) => r.action)).toEqual(['event.ack']);
    });

    it('pages for an error alert without an incident; no acknowledgement → level 2 after the wait; the page\'s own Acknowledge works', async () => {
      const r = await generic(`${tag} checkout 5xx`, { service: 'checkout', alertname: 'Errors' }, 'error');
      const a = await alertById(r.body.alertId);
      const g = await groupById(a.groupId!);
      expect(g.incidentId).toBeNull();
      expect(g.escalationSubject).toBe(`GRP-${g.id}`);
      const page = t.port.dms('alice').find((c) => c.message?.subject === `GRP-${g.id}`)!;
      expect(page.message!.text ?? page.message!.title).toBeTruthy();
      await after(15 * MIN);
      expect(t.port.dms('bob').map((c) => c.message!.subject)).toEqual([`GRP-${g.id}`]);
      const ack = page.message!.buttons![0]!;
      expect(ack).toMatchObject({ actionId: 'event.ack', value: `GRP-${g.id}` });
      const reply = await t.press('bob', ack.actionId, ack.value);
      expect(replyText(reply)).toContain('acknowledged by Bob');
      await after(30 * MIN);
      expect(t.port.dms().filter((c) => c.message?.subject === `GRP-${g.id}`)).toHaveLength(2);
    });

    it('Escalate now pages the next step at once; Open incident links an incident; Resolve resolves everything', async () => {
      const r = await generic(`${tag} checkout latency`, { service: 'checkout', alertname: 'Latency' }, 'error');
      const g = await groupById((await alertById(r.body.alertId)).groupId!);
      const esc = await t.press('alice', 'event.escalate', `GRP-${g.id}`);
      expect(replyText(esc)).toContain('escalated');
      expect(t.port.dms('bob').map((c) => c.message!.subject)).toEqual([`GRP-${g.id}`]);
      const inc = await t.press('alice', 'event.incident', `GRP-${g.id}`);
      const g2 = await groupById(g.id);
      expect(g2.incidentId).toBeTruthy();
      expect(replyText(inc)).toContain(`INC-${g2.incidentId} opened`);
      expect(replyText(await t.press('alice', 'event.incident', `GRP-${g.id}`))).toContain('already has incident');
      const res = await t.press('bob', 'event.resolve', `GRP-${g.id}`);
      expect(replyText(res)).toContain('resolved by Bob');
      expect((await groupById(g.id)).state).toBe('resolved');
      const [incident] = await db().select().from(schema.incidents).where(eq(schema.incidents.id, g2.incidentId!));
      expect(incident!.state).toBe('resolved');
      expect(replyText(await t.press('bob', 'event.resolve', `GRP-${g.id}`))).toContain('already resolved');
      // a requester may not act on alerts
      expect(replyText(await t.press('dave', 'event.ack', `GRP-${g.id}`))).toMatch(/may not acknowledge alerts/);
    });

    it('silences: /event silence hides matching alerts (stored, shown silenced), new ones arrive silenced, and they notify when it ends', async () => {
      const first = await generic(`${tag} disk full`, { service: 'db', alertname: 'DiskFull', instance: 'db-1' }, 'error');
      const g = (await alertById(first.body.alertId)).groupId!;
      t.port.calls.length = 0;
      const reply = await t.command('alice', `/event silence service=db alertname=DiskFull 2h disk replaced tonight`);
      expect(replyText(reply)).toMatch(/Silenced until .* as SIL-\d+: 1 open alert now silenced/);
      const silenceId = Number(/SIL-(\d+)/.exec(replyText(reply))![1]);
      expect(await alertById(first.body.alertId)).toMatchObject({ state: 'silenced', suppressedBy: `SIL-${silenceId}` });
      expect((await groupById(g)).state).toBe('silenced');
      expect(t.port.about(`GRP-${g}`, 'update').at(-1)!.message!.title).toContain('silenced');
      // a new matching alert is stored as silenced: no card, no page
      t.port.calls.length = 0;
      const second = await generic(`${tag} disk full 2`, { service: 'db', alertname: 'DiskFull', instance: 'db-2' }, 'critical');
      expect(await alertById(second.body.alertId)).toMatchObject({ state: 'silenced', groupId: null, incidentId: null });
      expect(t.port.calls.filter((c) => c.method === 'post' || c.method === 'dm')).toEqual([]);
      const list = await t.command('bob', '/event list db silenced');
      expect(replyText(list)).toContain(second.body.alertId);
      expect(replyText(await t.command('bob', '/event silences'))).toContain(`SIL-${silenceId}`);
      // another service is not silenced
      const other = await generic(`${tag} disk full other`, { service: 'checkout', alertname: 'DiskFull' }, 'warning');
      expect((await alertById(other.body.alertId)).state).toBe('firing');
      // the silence ends: both notify again
      await after(2 * 60 * MIN);
      expect(await alertById(first.body.alertId)).toMatchObject({ state: 'firing', suppressedBy: null });
      const s2 = await alertById(second.body.alertId);
      expect(s2.state).toBe('firing');
      expect(s2.groupId).toBeTruthy();
      expect(t.port.about(`GRP-${s2.groupId}`, 'post').length + t.port.about(`GRP-${s2.groupId}`, 'update').length).toBeGreaterThan(0);
      // bad syntax gets a clear reply
      expect(replyText(await t.command('alice', '/event silence 2h oops'))).toContain('at least one matcher');
      expect(replyText(await t.command('alice', '/event silence service=db soon reason'))).toContain('"soon" is not a duration');
      expect(replyText(await t.command('alice', '/event silence service=db 2h'))).toContain('Give a reason');
      expect(replyText(await t.command('alice', '/event silence alertname=~( 2h x'))).toContain('not a valid regular expression');
    });

    it('the Silence 1h button silences the group by its common labels; /event unsilence ends it early', async () => {
      const r = await generic(`${tag} cpu`, { service: 'checkout', alertname: `Cpu${tag}`, instance: 'c1' }, 'warning');
      const g = (await alertById(r.body.alertId)).groupId!;
      const reply = await t.press('alice', 'event.silence', `GRP-${g}`);
      expect(reply.kind).toBe('card');
      expect(replyText(reply)).toMatch(/SIL-\d+: silenced for 1h \(1 alert\)/);
      const id = Number(/SIL-(\d+)/.exec(replyText(reply))![1]);
      const [s] = await db().select().from(schema.silences).where(eq(schema.silences.id, id));
      expect(s!.matchers).toEqual(expect.arrayContaining([{ name: 'service', op: '=', value: 'checkout' }, { name: 'alertname', op: '=', value: `Cpu${tag}` }]));
      expect((await alertById(r.body.alertId)).state).toBe('silenced');
      const un = await t.command('alice', `/event unsilence SIL-${id}`);
      expect(replyText(un)).toContain('1 alert notify again');
      expect((await alertById(r.body.alertId)).state).toBe('firing');
      expect((await groupById(g)).state).toBe('firing');
      expect(replyText(await t.command('alice', `/event unsilence SIL-${id}`))).toContain('already ended');
    });

    it('maintenance windows: checkout alerts inside the window are stored silenced and notify when it ends', async () => {
      t.clock.set('2026-01-05T23:00:00Z');
      const r = await generic(`${tag} checkout down`, { service: 'checkout', alertname: 'Down' }, 'critical');
      const a = await alertById(r.body.alertId);
      expect(a).toMatchObject({ state: 'silenced', suppressedBy: 'maintenance:checkout', groupId: null, incidentId: null });
      expect(a.suppressedUntil!.toISOString()).toBe('2026-01-06T02:00:00.000Z');
      expect(t.port.calls.filter((c) => c.method === 'post' || c.method === 'dm')).toEqual([]);
      t.clock.set('2026-01-06T02:00:01Z');
      await t.tick();
      const after2 = await alertById(r.body.alertId);
      expect(after2.state).toBe('firing');
      expect(after2.groupId).toBeTruthy();
      expect(t.port.about(`GRP-${after2.groupId}`, 'post')).toHaveLength(1);
    });

    it('flapping: too many firing/resolved changes mark the alert flapping; it updates the old card and pages nobody again', async () => {
      const key = `${tag}-flap`;
      const fire = () => generic(`${tag} flappy`, { service: 'checkout', alertname: 'Flappy' }, 'error', 'firing', key);
      const resolve = () => generic(`${tag} flappy`, { service: 'checkout', alertname: 'Flappy' }, 'error', 'resolved', key);
      const a1 = await alertById((await fire()).body.alertId);
      expect(a1.flapping).toBe(false);
      await resolve();
      t.clock.advance(MIN);
      const a2 = await alertById((await fire()).body.alertId); // changes: 2 + 1 = 3
      expect(a2.flapping).toBe(false);
      await resolve();
      t.clock.advance(MIN);
      t.port.calls.length = 0;
      const r3 = await fire(); // changes: 4 + 1 = 5 > 4
      const a3 = await alertById(r3.body.alertId);
      expect(a3).toMatchObject({ flapping: true, state: 'flapping', groupId: a2.groupId });
      expect(t.port.calls.filter((c) => c.method === 'post' || c.method === 'dm')).toEqual([]);
      const updates = t.port.about(`GRP-${a2.groupId}`, 'update').filter((c) => c.where!.channel === 'checkout');
      expect(updates).toHaveLength(1); // the channel card (the earlier page's DM is refreshed too)
      expect(replyText({ kind: 'ephemeral', message: updates[0]!.message! })).toContain('Flapping');
    });

    it('heartbeats: a missed ping raises an alert after the timeout, the next ping resolves it', async () => {
      const ping = await t.call('POST', '/hooks/heartbeat/nightly-backup');
      expect(ping.status).toBe(200);
      expect(ping.body).toMatchObject({ status: 'ok', heartbeat: 'nightly-backup', nextDueAt: '2026-01-06T12:00:00.000Z', resolved: false });
      await after(25 * 60 * MIN);
      expect(await db().select().from(schema.alerts).where(sql`${schema.alerts.integration} = 'heartbeat' and ${schema.alerts.state} <> 'resolved'`)).toEqual([]);
      await after(61 * MIN);
      const [missed] = await db().select().from(schema.alerts).where(sql`${schema.alerts.integration} = 'heartbeat' and ${schema.alerts.state} <> 'resolved'`);
      expect(missed).toMatchObject({ dedupKey: 'nightly-backup', service: 'payments', severity: 'critical', state: 'firing' });
      expect(missed!.summary).toContain('Heartbeat nightly-backup missed');
      expect(t.port.about(`GRP-${missed!.groupId}`, 'post')).toHaveLength(1);
      const back = await t.call('POST', '/hooks/heartbeat/nightly-backup');
      await t.tread.dispatcher.flush();
      expect(back.body.resolved).toBe(true);
      expect((await alertById(`ALR-${missed!.id}`)).state).toBe('resolved');
      expect(t.port.about(`GRP-${missed!.groupId}`, 'update').at(-1)!.message!.title).toContain('resolved');
      expect((await t.call('POST', '/hooks/heartbeat/nope')).status).toBe(404);
      expect((await t.call('POST', '/hooks/heartbeat/guarded')).status).toBe(401);
      expect((await t.call('POST', '/hooks/heartbeat/guarded', { headers: { authorization: `Bearer ${HEARTBEAT_TOKEN}` } })).status).toBe(200);
    });

    it('/event list, show, ack and resolve by command; ids may be omitted in the card\'s thread; clear errors', async () => {
      const r = await t.hook('/hooks/alertmanager', amBody('firing', [{ labels: { alertname: `Cmd${tag}`, service: 'db', instance: 'x1' }, fingerprint: `${tag}-fp` }]), PROM_TOKEN);
      expect(r.status).toBe(200);
      const [a] = await db().select().from(schema.alerts).where(eq(schema.alerts.dedupKey, `${tag}-fp`));
      const list = await t.command('bob', '/event list db');
      expect(replyText(list)).toContain(`ALR-${a!.id} firing`);
      const show = await t.command('bob', `/event show ALR-${a!.id}`);
      expect(replyText(show)).toContain(`alertname=Cmd${tag}`);
      expect(replyText(show)).toContain('trigger (prometheus)');
      const showGroup = await t.command('bob', `/event show GRP-${a!.groupId}`);
      expect(replyText(showGroup)).toContain(`ALR-${a!.id}`);
      const post = t.port.about(`GRP-${a!.groupId}`, 'post')[0]!;
      const ack = await t.command('bob', '/event ack', { channel: post.where!.channel, thread: post.messageId });
      expect(replyText(ack)).toContain(`GRP-${a!.groupId} acknowledged by Bob`);
      expect(replyText(await t.command('bob', `/event ack ALR-${a!.id}`))).toContain('already acknowledged');
      const res = await t.command('alice', `/event resolve ALR-${a!.id} replaced the disk`);
      expect(replyText(res)).toContain(`ALR-${a!.id} resolved by Alice: replaced the disk`);
      expect(replyText(await t.command('alice', '/event ack nonsense'))).toContain('"nonsense" is not an alert or group id');
      expect(replyText(await t.command('alice', '/event show ALR-999999'))).toContain('There is no alert ALR-999999');
      expect(replyText(await t.command('alice', '/event frobnicate'))).toContain("I don't know \"frobnicate\"");
      expect(replyText(await t.command('alice', '/event help'))).toContain('/event silence <matchers> <duration> <reason>');
    });
  });
}
