import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client.js';
import { verifyAudit } from '../../../src/core/audit.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import {
  DAY, HOUR, MINUTE, START, auditOf, incidentRow, lastIncidentId, messageText, outboxOf, startIncidentTread, timelineOf, timersOf,
  type IncidentTestTread,
} from './incident.fakes.js';

const SECOND = 1000;
const at = (ms: number) => new Date(new Date(START).getTime() + ms).toISOString();

for (const driver of drivers) {
  describe(`incident SLA timers, auto-close and major incidents (${driver})`, () => {
    let database: Database;
    let t: IncidentTestTread;

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      t = await startIncidentTread(database);
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
    });
    beforeEach(async () => {
      // Each test starts on Monday 10:00 Berlin with no timers of earlier tests left due.
      t.clock.set(START);
      const { schema } = await import('../../../db/client.js');
      await t.db.delete(schema.timers);
      t.port.calls.length = 0;
    });

    const open = async (actor: string, line: string): Promise<number> => {
      const reply = await t.command(actor, `/incident ${line}`);
      expect(reply).toEqual({ kind: 'none' });
      return lastIncidentId(t);
    };
    /** Texts posted into the thread of a card (announcements) since the test started. */
    const announcements = (id: number) => {
      const card = t.port.of('post', (c) => !c.where?.thread && (c.message?.title?.startsWith(`INC-${id} `) ?? false))[0];
      return t.port.of('post', (c) => c.where?.thread === card?.messageId).map((c) => messageText(c.message));
    };
    const dmsTo = (person: string) => t.port.of('dm', (c) => c.user === person).map((c) => messageText(c.message));

    describe('response SLA', () => {
      it('warns in the card thread at 75% when nobody is assigned, and announces the breach at 100%', async () => {
        const id = await open('alice', 'Checkout returns 502 for all users');
        const s = `INC-${id}`;
        const timers = await timersOf(t, s);
        expect(timers[`${s}:sla:response:warn`]?.dueAt.toISOString()).toBe(at(22 * MINUTE + 30 * SECOND));
        expect(timers[`${s}:sla:response:breach`]?.dueAt.toISOString()).toBe(at(30 * MINUTE));

        await t.advance(22 * MINUTE + 29 * SECOND);
        expect(announcements(id)).toEqual([]);
        await t.advance(SECOND);
        expect(announcements(id)).toEqual([`⚠ ${s} response (acknowledgement) SLA is 75% used: due 10:30 CET (7m 30s left). Checkout returns 502 for all users`]);
        expect((await timelineOf(t, s)).at(-1)).toMatchObject({ kind: 'sla_warning', actor: 'tread', source: 'scheduler' });

        await t.advance(7 * MINUTE + 29 * SECOND);
        expect((await incidentRow(t, id)).responseBreached).toBe(false);
        await t.advance(SECOND);
        const row = await incidentRow(t, id);
        expect(row.responseBreached).toBe(true);
        expect(announcements(id).at(-1)).toBe(`🚨 ${s} breached its response (acknowledgement) SLA (P3). Checkout returns 502 for all users`);
        const lastUpdate = t.port.of('update').at(-1)!.message!;
        expect(lastUpdate.title).toBe(`${s} · P3 · new · Checkout returns 502 for all users`);
        expect(lastUpdate.text).toContain('response SLA breached');
        expect(lastUpdate.context).toContain('response SLA breached');
        const rows = await outboxOf(t, s);
        expect(rows.map((r) => r.kind)).toEqual(['post', 'announce', 'update', 'announce']);
        expect((await auditOf(t, s)).at(-1)).toMatchObject({ action: 'incident.sla_breached', actor: 'tread', source: 'scheduler', data: { clock: 'response', priority: 3 } });
        expect(await timersOf(t, s)).not.toHaveProperty(`${s}:sla:response:breach`);

        // acknowledging late stops nothing more from firing, and the stats count the breach
        await t.command('bob', `/incident ack ${s}`);
        await t.advance(DAY);
        expect(announcements(id).filter((a) => a.startsWith('🚨') || a.startsWith('⚠'))).toHaveLength(3); // response warn + breach, and the resolution breach a day in
        expect((await incidentRow(t, id)).resolutionBreached).toBe(true);
      });

      it('warns the assignee by direct message when someone is assigned', async () => {
        const id = await open('alice', 'Password resets fail');
        const s = `INC-${id}`;
        await t.command('alice', `/incident assign ${s} bob`);
        t.port.calls.length = 0;
        await t.advance(22 * MINUTE + 30 * SECOND);
        // a direct message shows times in the reader's own zone (bob is in New York)
        expect(dmsTo('bob')).toEqual([expect.stringMatching(new RegExp(`^⚠ ${s} response \\(acknowledgement\\) SLA is 75% used: due 04:30 (EST|GMT-5) \\(7m 30s left\\)\\. Password resets fail$`))]);
        expect(announcements(id)).toEqual([]);
        await t.advance(7 * MINUTE + 30 * SECOND);
        expect(dmsTo('bob').at(-1)).toBe(`🚨 ${s} breached its response (acknowledgement) SLA (P3). Password resets fail`);
        expect((await incidentRow(t, id)).responseBreached).toBe(true);
      });

      it('an acknowledgement before the warning cancels both response timers', async () => {
        const id = await open('alice', 'Slow dashboard');
        const s = `INC-${id}`;
        await t.advance(10 * MINUTE);
        await t.command('bob', `/incident ack ${s}`);
        const timers = await timersOf(t, s);
        expect(Object.keys(timers).filter((k) => k.includes(':response:'))).toEqual([]);
        await t.advance(30 * MINUTE);
        expect(announcements(id).filter((a) => a.includes('SLA'))).toEqual([]);
        expect(dmsTo('bob').filter((a) => a.includes('SLA'))).toEqual([]);
        expect((await incidentRow(t, id)).responseBreached).toBe(false);
      });

      it('a higher priority moves the response timers to the new, shorter target, keeping time spent', async () => {
        const id = await open('alice', 'Cart empties itself');
        const s = `INC-${id}`;
        await t.advance(5 * MINUTE);
        await t.command('alice', `/incident priority ${s} P1`);
        const timers = await timersOf(t, s);
        // P1: 15m response, 5m already spent: warn at 11m15s, breach at 15m after opening.
        expect(timers[`${s}:sla:response:warn`]?.dueAt.toISOString()).toBe(at(11 * MINUTE + 15 * SECOND));
        expect(timers[`${s}:sla:response:breach`]?.dueAt.toISOString()).toBe(at(15 * MINUTE));
        expect((await incidentRow(t, id)).responseDueAt?.toISOString()).toBe(at(15 * MINUTE));
        await t.advance(10 * MINUTE);
        expect((await incidentRow(t, id)).responseBreached).toBe(true);
        await t.command('alice', `/incident ack ${s}`);
      });

      it('does not warn at "75% used" after the breach when a priority change already put the incident past its new target', async () => {
        const id = await open('alice', 'Coupons rejected');
        const s = `INC-${id}`;
        await t.advance(20 * MINUTE);
        await t.command('alice', `/incident priority ${s} P1`); // 20m spent of 15m: breached at once
        await t.tick();
        expect((await incidentRow(t, id)).responseBreached).toBe(true);
        await t.advance(5 * MINUTE); // past the P3 warning time (22m30s)
        const sla = announcements(id).filter((a) => a.includes('SLA'));
        expect(sla).toEqual([`🚨 ${s} breached its response (acknowledgement) SLA (P1). Coupons rejected`]);
        await t.command('alice', `/incident ack ${s}`);
      });
    });

    describe('resolution SLA', () => {
      it('warns the assignee at 75% and announces the breach at 100% of the resolution target', async () => {
        const id = await open('alice', 'Invoices not generated impact:high urgency:medium'); // P2: 30m / 8h
        const s = `INC-${id}`;
        await t.command('bob', `/incident ack ${s}`);
        t.port.calls.length = 0;
        await t.advance(6 * HOUR - SECOND);
        expect(dmsTo('bob')).toEqual([]);
        await t.advance(SECOND);
        expect(dmsTo('bob')).toEqual([expect.stringMatching(new RegExp(`^⚠ ${s} resolution SLA is 75% used: due 12:00 (EST|GMT-5) \\(2h left\\)\\. Invoices not generated$`))]);
        await t.advance(2 * HOUR);
        expect((await incidentRow(t, id)).resolutionBreached).toBe(true);
        expect(dmsTo('bob').at(-1)).toBe(`🚨 ${s} breached its resolution SLA (P2). Invoices not generated`);
        expect(t.port.of('update').at(-1)!.message!.text).toContain('resolution SLA breached');
        await t.command('bob', `/incident resolve ${s} regenerated`);
      });

      it('pauses the resolution clock while on hold: holding for 2h moves the due time by 2h', async () => {
        const id = await open('alice', 'Label printer offline'); // P3: resolution 1d
        const s = `INC-${id}`;
        await t.command('bob', `/incident ack ${s}`);
        expect((await incidentRow(t, id)).resolutionDueAt?.toISOString()).toBe(at(DAY));
        await t.advance(HOUR);
        await t.command('bob', `/incident hold ${s} vendor waiting for the toner`);
        const held = await incidentRow(t, id);
        expect(held.resolutionDueAt).toBeNull();
        expect(held.resolutionSpentMs).toBe(HOUR);
        expect(Object.keys(await timersOf(t, s)).filter((k) => k.includes(':resolution:'))).toEqual([]);
        await t.advance(2 * HOUR);
        await t.command('bob', `/incident start ${s}`);
        const resumed = await incidentRow(t, id);
        expect(resumed.resolutionDueAt?.toISOString()).toBe(at(DAY + 2 * HOUR));
        const timers = await timersOf(t, s);
        expect(timers[`${s}:sla:resolution:breach`]?.dueAt.toISOString()).toBe(at(DAY + 2 * HOUR));
        expect(timers[`${s}:sla:resolution:warn`]?.dueAt.toISOString()).toBe(at(18 * HOUR + 2 * HOUR));
        await t.advance(DAY - HOUR - MINUTE); // 1 minute before the original due time + 2h: not breached
        expect((await incidentRow(t, id)).resolutionBreached).toBe(false);
        await t.advance(MINUTE);
        expect((await incidentRow(t, id)).resolutionBreached).toBe(true);
        await t.command('bob', `/incident resolve ${s} new toner`);
      });

      it('a long hold never breaches; the clock continues with the time left when work resumes', async () => {
        const id = await open('alice', 'Warehouse scanner sync'); // P3: resolution 1d
        const s = `INC-${id}`;
        await t.command('bob', `/incident start ${s}`);
        await t.advance(6 * HOUR);
        await t.command('bob', `/incident hold ${s} caller waiting for the site manager`);
        await t.advance(2 * DAY);
        expect((await incidentRow(t, id)).resolutionBreached).toBe(false);
        expect(dmsTo('bob').filter((d) => d.includes('SLA'))).toEqual([]);
        await t.command('bob', `/incident start ${s}`);
        expect((await incidentRow(t, id)).resolutionDueAt?.toISOString()).toBe(at(2 * DAY + 6 * HOUR + 18 * HOUR));
        await t.command('bob', `/incident resolve ${s} rescanned`);
      });
    });

    describe('business hours', () => {
      it('P4 targets count only business hours: nights and weekends do not count', async () => {
        // Friday 9 January 2026, 16:00 Berlin: one business hour left this week.
        t.clock.set('2026-01-09T15:00:00Z');
        const id = await open('alice', 'Intranet search ranks badly impact:medium urgency:low');
        const s = `INC-${id}`;
        const row = await incidentRow(t, id);
        expect(row.priority).toBe(4);
        // response 4h: Fri 16–17 (1h) + Mon 9–12 (3h) -> Monday 12 January 12:00 Berlin
        expect(row.responseDueAt?.toISOString()).toBe('2026-01-12T11:00:00.000Z');
        // resolution 3d = three business days of 8h = 24 business hours: Fri 1h, Mon 8h, Tue 8h, Wed 7h -> Wednesday 14 January 16:00 Berlin
        expect(row.resolutionDueAt?.toISOString()).toBe('2026-01-14T15:00:00.000Z');
        const timers = await timersOf(t, s);
        // warn at 3h: Fri 1h + Mon 9–11 -> Monday 11:00 Berlin
        expect(timers[`${s}:sla:response:warn`]?.dueAt.toISOString()).toBe('2026-01-12T10:00:00.000Z');

        for (const when of ['2026-01-09T16:30:00Z', '2026-01-10T12:00:00Z', '2026-01-11T23:59:00Z', '2026-01-12T09:59:00Z']) {
          t.clock.set(when);
          await t.tick();
          expect(announcements(id).filter((a) => a.includes('SLA')), when).toEqual([]);
        }
        t.clock.set('2026-01-12T10:00:00Z');
        await t.tick();
        expect(announcements(id)).toEqual([`⚠ ${s} response (acknowledgement) SLA is 75% used: due 12:00 CET (1h left). Intranet search ranks badly`]);
        t.clock.set('2026-01-12T11:00:00Z');
        await t.tick();
        expect((await incidentRow(t, id)).responseBreached).toBe(true);
        await t.command('alice', `/incident cancel ${s} not an incident`);
      });

      it('a hold over the weekend costs no business time', async () => {
        t.clock.set('2026-01-09T15:00:00Z'); // Fri 16:00 Berlin
        const id = await open('alice', 'Old browser warning shown impact:low urgency:medium');
        const s = `INC-${id}`;
        await t.command('bob', `/incident start ${s}`);
        t.clock.set('2026-01-09T15:30:00Z');
        await t.command('bob', `/incident hold ${s} caller asked to wait`);
        expect((await incidentRow(t, id)).resolutionSpentMs).toBe(30 * MINUTE);
        t.clock.set('2026-01-12T08:00:00Z'); // Mon 09:00 Berlin
        await t.command('bob', `/incident start ${s}`);
        // 24h − 0.5h left = 23.5 business hours from Monday 09:00: Mon 8h, Tue 8h, Wed 7.5h -> Wed 14 Jan 16:30 Berlin
        expect((await incidentRow(t, id)).resolutionDueAt?.toISOString()).toBe('2026-01-14T15:30:00.000Z');
        await t.command('bob', `/incident cancel ${s} dropped`);
      });
    });

    describe('auto-close', () => {
      it('closes a resolved incident after 3 days, as the scheduler, with audit and announcement', async () => {
        const id = await open('alice', 'Newsletter sent twice');
        const s = `INC-${id}`;
        await t.command('bob', `/incident resolve ${s} deduplicated the queue`);
        expect((await timersOf(t, s))[`${s}:autoclose`]?.dueAt.toISOString()).toBe(at(3 * DAY));
        await t.advance(3 * DAY - MINUTE);
        expect((await incidentRow(t, id)).state).toBe('resolved');
        await t.advance(MINUTE);
        const row = await incidentRow(t, id);
        expect(row.state).toBe('closed');
        expect(row.closedAt?.toISOString()).toBe(at(3 * DAY));
        expect((await auditOf(t, s)).at(-1)).toMatchObject({ action: 'incident.close', actor: 'tread', source: 'scheduler' });
        expect((await timelineOf(t, s)).at(-1)).toMatchObject({ kind: 'close', actor: 'tread', source: 'scheduler', text: `${s} closed by tread` });
        expect(announcements(id).at(-1)).toBe(`${s} closed by tread`);
        expect(t.port.of('update').at(-1)!.message!.title).toBe(`${s} · P3 · closed · Newsletter sent twice`);
        expect(await timersOf(t, s)).toEqual({});
      });

      it('does not close an incident that was reopened; resolving again restarts the 3 days', async () => {
        const id = await open('alice', 'Stock counts off');
        const s = `INC-${id}`;
        await t.command('bob', `/incident resolve ${s} recounted`);
        await t.advance(2 * DAY);
        await t.command('bob', `/incident reopen ${s} still off in Hamburg`);
        expect((await timersOf(t, s))[`${s}:autoclose`]).toBeUndefined();
        await t.advance(2 * DAY);
        expect((await incidentRow(t, id)).state).toBe('in_progress');
        await t.command('bob', `/incident resolve ${s} recounted Hamburg`);
        await t.advance(3 * DAY - MINUTE);
        expect((await incidentRow(t, id)).state).toBe('resolved');
        await t.advance(MINUTE);
        expect((await incidentRow(t, id)).state).toBe('closed');
      });

      it('uses the configured time', async () => {
        const config = { ...t.config, incident: { ...t.config.incident, autoCloseAfter: 2 * HOUR } };
        const other = await startIncidentTread(database, { config, clock: t.clock });
        try {
          const reply = await other.command('alice', '/incident Short lived');
          expect(reply.kind).toBe('none');
          const id = await lastIncidentId(other);
          await other.command('alice', `/incident resolve INC-${id} gone`);
          expect((await timersOf(other, `INC-${id}`))[`INC-${id}:autoclose`]?.dueAt.toISOString()).toBe(at(2 * HOUR));
          await other.advance(2 * HOUR);
          expect((await incidentRow(other, id)).state).toBe('closed');
        } finally {
          await other.tread.stop({ closeDatabase: false });
        }
      });
    });

    describe('major incidents', () => {
      it('a P1 asks for a channel inc-<n>-<slug> with the service owners, and the console says where it would have been', async () => {
        const id = await open('alice', 'Database cluster down — all writes fail! impact:high urgency:high service:db');
        const s = `INC-${id}`;
        const row = await incidentRow(t, id);
        expect(row).toMatchObject({ priority: 1, major: true });
        const channel = (await outboxOf(t, s)).find((r) => r.kind === 'channel')!;
        expect(channel.payload.name).toBe(`inc-${id}-database-cluster-down-all-writes-fail`);
        expect([...channel.payload.members].sort()).toEqual(['alice', 'bob']);
        expect(channel.status).toBe('sent');
        const name = `inc-${id}-database-cluster-down-all-writes-fail`;
        expect(announcements(id)).toContain(`This test port cannot create channels (it would have created #${name}). A dedicated channel *${name}* would have been created for ${s}; updates will be posted here instead.`);
        await t.command('alice', `/incident ack ${s}`);
      });

      it('invites the assignee and the owners when an incident becomes P1 later', async () => {
        const id = await open('carol', 'Payments slow service:payments');
        const s = `INC-${id}`;
        await t.command('alice', `/incident assign ${s} alice`);
        await t.command('alice', `/incident priority ${s} P1`);
        const channel = (await outboxOf(t, s)).find((r) => r.kind === 'channel')!;
        expect(channel.payload.name).toBe(`inc-${id}-payments-slow`);
        expect([...channel.payload.members].sort()).toEqual(['alice', 'bob']);
        expect((await incidentRow(t, id)).major).toBe(true);
        await t.command('alice', `/incident cancel ${s} false alarm`);
      });

      it('reminds the incident to post a status update every 30 minutes until resolved, and never after', async () => {
        const id = await open('alice', 'Site down impact:high urgency:high');
        const s = `INC-${id}`;
        await t.command('bob', `/incident ack ${s}`);
        const reminder = `⏰ Time for a status update on ${s}: what do we know, what are we doing, when is the next update? (reminder every 30m until resolved; post it with /incident note ${s} <update>)`;
        const reminders = () => announcements(id).filter((a) => a.startsWith('⏰'));
        await t.advance(29 * MINUTE);
        expect(reminders()).toEqual([]);
        await t.advance(MINUTE);
        expect(reminders()).toEqual([reminder]);
        await t.advance(30 * MINUTE);
        await t.advance(30 * MINUTE);
        expect(reminders()).toHaveLength(3);
        expect((await timersOf(t, s))[`${s}:status`]?.dueAt.toISOString()).toBe(at(2 * HOUR));
        await t.advance(10 * MINUTE);
        await t.command('bob', `/incident resolve ${s} failed over`);
        expect((await timersOf(t, s))[`${s}:status`]).toBeUndefined();
        await t.advance(2 * HOUR);
        expect(reminders()).toHaveLength(3);
      });

      it('a reopened major incident is reminded again until it is resolved again', async () => {
        const id = await open('alice', 'Payments down impact:high urgency:high');
        const s = `INC-${id}`;
        await t.command('bob', `/incident ack ${s}`);
        await t.advance(10 * MINUTE);
        await t.command('bob', `/incident resolve ${s} restarted the PSP bridge`);
        await t.advance(HOUR);
        await t.command('bob', `/incident reopen ${s} errors are back`);
        expect((await timersOf(t, s))[`${s}:status`]?.dueAt.toISOString()).toBe(at(HOUR + 10 * MINUTE + 30 * MINUTE));
        const reminders = () => announcements(id).filter((a) => a.startsWith('⏰'));
        const before = reminders().length;
        await t.advance(30 * MINUTE);
        expect(reminders()).toHaveLength(before + 1);
        await t.command('bob', `/incident resolve ${s} replaced the bridge`);
        await t.advance(HOUR);
        expect(reminders()).toHaveLength(before + 1);
      });

      it('raising a resolved incident to P1 opens no major-incident channel and sends no reminders', async () => {
        const id = await open('alice', 'Was minor');
        const s = `INC-${id}`;
        await t.command('bob', `/incident resolve ${s} fixed`);
        await t.command('bob', `/incident priority ${s} P1`);
        expect(await incidentRow(t, id)).toMatchObject({ priority: 1, major: false, state: 'resolved' });
        expect((await outboxOf(t, s)).filter((r) => r.kind === 'channel')).toEqual([]);
        expect((await timersOf(t, s))[`${s}:status`]).toBeUndefined();
        // reopened, it is an open P1: /incident major makes it major now
        await t.command('bob', `/incident reopen ${s} back`);
        await t.command('bob', `/incident major ${s}`);
        expect((await outboxOf(t, s)).filter((r) => r.kind === 'channel')).toHaveLength(1);
        await t.command('bob', `/incident cancel ${s} test`);
      });

      it('the reminder interval comes from the config', async () => {
        const config = { ...t.config, incident: { ...t.config.incident, statusUpdateEvery: 10 * MINUTE } };
        const other = await startIncidentTread(database, { config, clock: t.clock });
        try {
          await other.command('alice', '/incident Storefront blank impact:high urgency:high');
          const id = await lastIncidentId(other);
          expect((await timersOf(other, `INC-${id}`))[`INC-${id}:status`]?.dueAt.toISOString()).toBe(at(10 * MINUTE));
          await other.command('alice', `/incident cancel INC-${id} test`);
        } finally {
          await other.tread.stop({ closeDatabase: false });
        }
      });
    });

    it('the audit chain verifies after all the scheduler work', async () => {
      const result = await verifyAudit(t.db);
      expect(result.problems).toEqual([]);
      expect(result.rows).toBeGreaterThan(20);
    });
  });
}
