/**
 * Group cards in an alert storm (manual clock, recording port, real HTTP and database): counters on a busy card are
 * redrawn at most every `correlation.cards.refresh`, at low priority, while a state change goes at once; and once more
 * groups open in a minute than `stormGroups`, a new group's card is posted when its group settles, with its counts then,
 * instead of posted and edited; groups that page or open an incident are never held.
 */
import { eq, sql } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { schema } from '../../../db/client.js';
import { readTimeline } from '../../../src/core/timeline.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { EVENT_YAML, eventConfig, GENERIC_TOKEN, START, startEventTread } from './event.fakes.js';

const STORM_YAML = EVENT_YAML.replace('cards: { stormGroups: 100000 }', 'cards: { stormGroups: 3, settle: 2s, settleMax: 20s, refresh: 10s }');

for (const driver of drivers) {
  describe(`group cards in a storm (${driver})`, () => {
    let t: Awaited<ReturnType<typeof startEventTread>>;
    let n = 0;
    let tag: string;

    treadPerFile(driver, (database) => startEventTread(database, { config: eventConfig(STORM_YAML) }), (started) => { t = started; });
    beforeEach(async () => {
      // Each test starts a minute after the last one's groups, with nothing pending.
      t.clock.set(new Date(Date.parse(START) + n * 3_600_000));
      t.port.calls.length = 0;
      tag = `s${++n}`;
      await t.tread.app.db.execute(sql`update alerts set state = 'resolved', resolved_at = now() where state <> 'resolved'`);
      await t.tread.app.db.execute(sql`update alert_groups set state = 'resolved', accepting = false`);
      await t.tread.app.db.execute(sql`delete from timers`);
    });

    const generic = (alertname: string, instance: string, severity = 'warning', status: 'firing' | 'resolved' = 'firing') =>
      t.hook('/hooks/generic', { summary: `${alertname} on ${instance}`, severity, source: 'mon', labels: { service: 'db', alertname: `${alertname}${tag}`, instance }, status }, GENERIC_TOKEN);
    const groupOf = async (answer: { body: { alertId: string } }) =>
      (await t.tread.app.db.select().from(schema.alerts).where(eq(schema.alerts.id, Number(answer.body.alertId.slice(4)))))[0]!.groupId!;
    const postsOf = (group: number) => t.port.calls.filter((c) => c.method === 'post' && c.message?.subject === `GRP-${group}`);
    const after = async (ms: number) => {
      t.clock.advance(ms);
      await t.tick();
    };

    it('counters are redrawn at most every refresh, as one low-priority update; a state change is sent at once', async () => {
      const group = await groupOf(await generic('Busy', 'h0'));
      expect(postsOf(group)).toHaveLength(1);
      for (let i = 1; i <= 5; i++) await generic('Busy', `h${i}`);
      await t.tick();
      expect(t.port.calls.filter((c) => c.method === 'update')).toEqual([]);
      await after(9_000);
      expect(t.port.calls.filter((c) => c.method === 'update')).toEqual([]);
      await after(1_000);
      const updates = t.port.calls.filter((c) => c.method === 'update');
      expect(updates).toHaveLength(1);
      expect(updates[0]!.message!.text).toContain('*6 alerts* (6 firing)');
      const [row] = await t.tread.app.db.select().from(schema.outbox).where(eq(schema.outbox.orderKey, `GRP-${group}`)).orderBy(sql`${schema.outbox.id} desc`).limit(1);
      expect(row).toMatchObject({ kind: 'update', priority: 0 });
      // Acknowledging changes the state: the update is written with the change, at normal priority, and sent at once.
      t.port.calls.length = 0;
      await t.press('bob', 'event.ack', `GRP-${group}`);
      expect(t.port.calls.find((c) => c.method === 'update')!.message!.text).toMatch(/acknowledged/i);
      const written = await t.tread.app.db.select().from(schema.outbox).where(sql`${schema.outbox.orderKey} = ${`GRP-${group}`} and ${schema.outbox.id} > ${row!.id} and ${schema.outbox.kind} = 'update'`);
      expect(written.map((r) => r.priority)).toEqual([1]);
    });

    it('in a storm, a new group\'s card waits until its group settles and is posted once, with its counts then', async () => {
      // Three groups open at once: within stormGroups, each card is posted at once.
      const calm = await Promise.all(['A', 'B', 'C'].map(async (name) => groupOf(await generic(name, 'h0'))));
      for (const g of calm) expect(postsOf(g)).toHaveLength(1);
      // The fourth within the minute is a storm: its card waits.
      const held = await groupOf(await generic('D', 'h0'));
      expect(postsOf(held)).toHaveLength(0);
      const timeline = await readTimeline(t.tread.app.db, `GRP-${held}`);
      expect(timeline.map((e) => e.text).join('\n')).toMatch(/Alert storm: more than 3 groups opened in a minute/);
      // Alerts keep joining every second: each one makes it wait 2 s more.
      for (let i = 1; i <= 4; i++) {
        await after(1_000);
        await generic('D', `h${i}`);
        expect(postsOf(held)).toHaveLength(0);
      }
      // Quiet for 2 s: posted once, already counting all five, and not edited afterwards.
      await after(2_000);
      expect(postsOf(held)).toHaveLength(1);
      expect(postsOf(held)[0]!.message!.text).toContain('*5 alerts* (5 firing)');
      await after(30_000);
      expect(postsOf(held)).toHaveLength(1);
      expect(t.port.calls.filter((c) => c.method === 'update' && c.message?.subject === `GRP-${held}`)).toEqual([]);
    });

    it('a card held in a storm is posted at most settleMax after its first alert, however busy its group stays', async () => {
      await Promise.all(['A', 'B', 'C', 'D'].map((name) => generic(name, 'h0')));
      const held = await groupOf(await generic('E', 'h0'));
      for (let i = 1; i <= 25; i++) {
        await after(1_000);
        await generic('E', `h${i}`);
        if (i < 20) expect(postsOf(held)).toHaveLength(0);
      }
      const [post] = postsOf(held);
      expect(post).toBeDefined();
      // Posted at +20 s with the 20 alerts it had then; counts after that come as updates.
      expect(post!.message!.text).toContain('*20 alerts*');
    });

    it('a group that opens an incident is posted at once, storm or not', async () => {
      await Promise.all(['A', 'B', 'C', 'D'].map((name) => generic(name, 'h0')));
      const loud = await groupOf(await generic('Down', 'h0', 'critical'));
      expect(postsOf(loud)).toHaveLength(1);
      const [g] = await t.tread.app.db.select().from(schema.alertGroups).where(eq(schema.alertGroups.id, loud));
      expect(g!.incidentId).not.toBeNull();
    });
  });
}
