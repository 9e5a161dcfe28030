/**
 * Suppression end to end, where only unit tests covered the rule before (test/workflows/event/event.match.test.ts,
 * event.machine.test.ts): alerts arrive over HTTP at the real webhook, silences are made by /event silence with regular
 * expression and negative matchers, a weekly maintenance window crosses midnight in its time zone, and a flapping key
 * comes back to normal once its flapping window has passed. Real database, recording chat port, manual clock.
 */
import { eq, sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { schema } from '../../db/client.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';
import { EVENT_YAML, eventConfig, GENERIC_TOKEN, replyText, START, startEventTread } from '../workflows/event/event.fakes.js';

const MIN = 60_000;

for (const driver of drivers) {
  describe(`silences, maintenance and flapping over HTTP (${driver})`, () => {
    let t: Awaited<ReturnType<typeof startEventTread>>;
    let n = 0;
    let tag: string;

    treadPerFile(driver, (database) => startEventTread(database), (started) => { t = started; });
    beforeEach(async () => {
      t.clock.set(START);
      t.tread.app.config = eventConfig();
      t.port.calls.length = 0;
      tag = `s${++n}`;
      // Each test starts from a quiet system: no open alerts, no silences, no pending timers.
      await t.tread.app.db.execute(sql`update alerts set state = 'resolved', resolved_at = now() where state <> 'resolved'`);
      await t.tread.app.db.execute(sql`update alert_groups set state = 'resolved', accepting = false`);
      await t.tread.app.db.execute(sql`update silences set ends_at = now() - interval '1 second'`);
      await t.tread.app.db.execute(sql`delete from timers`);
      await t.tread.app.db.execute(sql`update escalations set state = 'acknowledged' where state = 'active'`);
    });

    /** Posts a generic event to /hooks/generic; returns the alert it made. */
    const generic = async (summary: string, labels: Record<string, string>, severity = 'error', status: 'firing' | 'resolved' = 'firing', dedupKey?: string) => {
      const r = await t.hook('/hooks/generic', { summary, severity, source: 'mon-1', labels, status, ...(dedupKey ? { dedupKey } : {}) }, GENERIC_TOKEN);
      expect(r.status).toBe(202);
      return alertById(r.body.alertId);
    };
    const alertById = async (id: string) => (await t.tread.app.db.select().from(schema.alerts).where(eq(schema.alerts.id, Number(id.slice(4)))))[0]!;
    const reload = async (a: { id: number }) => (await t.tread.app.db.select().from(schema.alerts).where(eq(schema.alerts.id, a.id)))[0]!;
    /** Cards posted and pages sent since the last reset. */
    const noticed = () => t.port.calls.filter((c) => c.method === 'post' || c.method === 'dm');

    it('a regular-expression silence (=~) silences the alerts whose label matches the whole pattern, and only those', async () => {
      const reply = await t.command('alice', `/event silence service=db alertname=~${tag}Disk.* 1h disks being replaced`);
      expect(replyText(reply)).toMatch(/Silenced until .* as SIL-\d+/);
      const silence = `SIL-${/SIL-(\d+)/.exec(replyText(reply))![1]}`;

      const full = await generic(`${tag} disk full`, { service: 'db', alertname: `${tag}DiskFull` }, 'critical');
      const slow = await generic(`${tag} disk slow`, { service: 'db', alertname: `${tag}DiskSlow` }, 'critical');
      expect(full).toMatchObject({ state: 'silenced', suppressedBy: silence, groupId: null, incidentId: null });
      expect(slow).toMatchObject({ state: 'silenced', suppressedBy: silence });
      expect(noticed()).toEqual([]);
      // Anchored like Alertmanager: a name that only contains the pattern is not matched; nor is another service.
      const prefixed = await generic(`${tag} big disk`, { service: 'db', alertname: `Big${tag}DiskFull` }, 'critical');
      const cpu = await generic(`${tag} cpu`, { service: 'db', alertname: `${tag}CpuHigh` }, 'critical');
      const elsewhere = await generic(`${tag} disk elsewhere`, { service: 'checkout', alertname: `${tag}DiskFull` }, 'critical');
      for (const a of [prefixed, cpu, elsewhere]) expect(a).toMatchObject({ state: 'firing', suppressedBy: null });
      expect(noticed().filter((c) => c.method === 'post').length).toBeGreaterThanOrEqual(3);

      // When the hour is over the silenced ones notify.
      t.port.calls.length = 0;
      t.clock.advance(60 * MIN + 1000);
      await t.tick();
      for (const a of [full, slow]) expect(await reload(a)).toMatchObject({ state: 'firing', suppressedBy: null });
      expect(noticed().length).toBeGreaterThan(0);
    });

    it('a negative silence (!= and !~) silences what differs, and an alert without the label counts as the empty value', async () => {
      const reply = await t.command('alice', `/event silence service=db alertname=${tag}Lag env!=prod instance!~db-[12] 1h staging noise`);
      const silence = `SIL-${/SIL-(\d+)/.exec(replyText(reply))![1]}`;
      const staging = await generic(`${tag} lag staging`, { service: 'db', alertname: `${tag}Lag`, env: 'staging', instance: 'db-3' });
      const noEnv = await generic(`${tag} lag no env`, { service: 'db', alertname: `${tag}Lag`, instance: 'db-4' });
      expect(staging).toMatchObject({ state: 'silenced', suppressedBy: silence });
      expect(noEnv).toMatchObject({ state: 'silenced', suppressedBy: silence });
      expect(noticed()).toEqual([]);
      // prod is what the silence leaves out (env!=prod); so are db-1 and db-2 (instance!~db-[12]).
      const prod = await generic(`${tag} lag prod`, { service: 'db', alertname: `${tag}Lag`, env: 'prod', instance: 'db-3' });
      const db1 = await generic(`${tag} lag db-1`, { service: 'db', alertname: `${tag}Lag`, env: 'staging', instance: 'db-1' });
      expect(prod).toMatchObject({ state: 'firing', suppressedBy: null });
      expect(db1).toMatchObject({ state: 'firing', suppressedBy: null });
      expect(noticed().filter((c) => c.method === 'post').length).toBeGreaterThan(0);
      const list = replyText(await t.command('bob', '/event silences'));
      expect(list).toContain(silence);
      expect(list).toContain('env!=prod');
      expect(list).toContain('instance!~db-[12]');
    });

    it('a weekly maintenance window that crosses midnight in its time zone silences on both sides of midnight and ends on the next day', async () => {
      // Sundays 23:00 to 01:00 Berlin (CET, UTC+1): Sun 11 Jan 22:00 UTC to Mon 12 Jan 00:00 UTC.
      t.tread.app.config = eventConfig(EVENT_YAML.replace('maintenance:\n', 'maintenance:\n  - { service: db, weekly: { days: [sun], start: "23:00", end: "01:00", timezone: Europe/Berlin }, reason: weekly patching }\n'));
      t.clock.set('2026-01-11T22:30:00Z'); // Sun 23:30 Berlin
      const before = await generic(`${tag} db down before midnight`, { service: 'db', alertname: `${tag}Down` }, 'critical');
      expect(before).toMatchObject({ state: 'silenced', suppressedBy: 'maintenance:db', groupId: null, incidentId: null });
      expect(before.suppressedUntil!.toISOString()).toBe('2026-01-12T00:00:00.000Z');
      t.clock.set('2026-01-11T23:30:00Z'); // Mon 00:30 Berlin: past midnight, still the window
      const after = await generic(`${tag} db slow after midnight`, { service: 'db', alertname: `${tag}Slow` }, 'critical');
      expect(after).toMatchObject({ state: 'silenced', suppressedBy: 'maintenance:db' });
      expect(after.suppressedUntil!.toISOString()).toBe('2026-01-12T00:00:00.000Z');
      await t.tick();
      expect((await reload(before)).state).toBe('silenced');
      expect(noticed()).toEqual([]);

      // 01:00 Berlin on Monday: the window is over, both notify; a new alert is not suppressed.
      t.clock.set('2026-01-12T00:00:01Z');
      await t.tick();
      for (const a of [before, after]) {
        const now = await reload(a);
        expect(now).toMatchObject({ state: 'firing', suppressedBy: null });
        expect(now.groupId).toBeTruthy();
        expect(t.port.about(`GRP-${now.groupId}`, 'post').length).toBeGreaterThan(0);
      }
      const later = await generic(`${tag} db down after the window`, { service: 'db', alertname: `${tag}Later` }, 'critical');
      expect(later).toMatchObject({ state: 'firing', suppressedBy: null });
      // The same hour on a Monday evening is outside the window (it is on Sundays only).
      t.clock.set('2026-01-12T22:30:00Z');
      expect(await generic(`${tag} db down monday`, { service: 'db', alertname: `${tag}Monday` }, 'critical')).toMatchObject({ state: 'firing', suppressedBy: null });
    });

    it('a flapping key returns to normal once its flapping window has passed: the next firing notifies and pages again', async () => {
      // The test config: more than 4 firing/resolved changes within 30m is flapping.
      const key = `${tag}-flap`;
      const labels = { service: 'checkout', alertname: `${tag}Flappy` };
      const fire = () => generic(`${tag} flappy`, labels, 'error', 'firing', key);
      const resolve = () => generic(`${tag} flappy`, labels, 'error', 'resolved', key);
      await fire();
      await resolve();
      t.clock.advance(MIN);
      await fire();
      await resolve();
      t.clock.advance(MIN);
      t.port.calls.length = 0;
      const flapping = await fire();
      expect(flapping).toMatchObject({ flapping: true, state: 'flapping' });
      expect(noticed()).toEqual([]); // flapping pages nobody
      await resolve();
      // Inside the window it is still flapping.
      t.clock.advance(20 * MIN);
      const still = await fire();
      expect(still).toMatchObject({ flapping: true, state: 'flapping' });
      await resolve();

      // 31 minutes after the last change nothing of the key is inside the window any more: the next firing is an
      // ordinary alert again, with a group and a page to the on-call.
      t.clock.advance(31 * MIN);
      t.port.calls.length = 0;
      const normal = await fire();
      expect(normal).toMatchObject({ flapping: false, state: 'firing' });
      expect(normal.groupId).toBeTruthy();
      expect(t.port.about(`GRP-${normal.groupId}`, 'post').length + t.port.about(`GRP-${normal.groupId}`, 'update').length).toBeGreaterThan(0);
      expect(t.port.calls.filter((c) => c.method === 'dm').length).toBeGreaterThan(0);
    });
  });
}
