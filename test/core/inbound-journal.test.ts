/**
 * The inbound journal (src/core/inbound-journal.ts): a chat request written down before it is acknowledged is handled
 * once, by whichever process is alive: a retry is refused by its delivery id, a request its process left unfinished is
 * replayed after its lease, a lease renewed by a live process is left alone, a request that keeps failing is given up
 * with the person told, and a change marks its request done in its own transaction. PGlite always, PostgreSQL when
 * DATABASE_URL is set.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queryRows } from '../../db/client.js';
import type { CommandInbound, Inbound, Reply } from '../../src/core/inbound.js';
import { MAX_ATTEMPTS } from '../../src/core/inbound-journal.js';
import { Router } from '../../src/core/router.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';

const LEASE_MS = 300;
const config = parseOrganisation(`
organisation: Journal test
people:
  - { id: alice, name: Alice, slack: U0ALICE, roles: [responder] }
`, 'test', {});

let seq = 0;
const incident = (title: string): CommandInbound => ({
  kind: 'command', name: 'incident', text: title, actor: { platform: 'slack', id: 'U0ALICE' },
  where: { platform: 'slack', channel: 'C0OPS' }, deliveryId: `journal.${Date.now()}.${++seq}`,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const driver of drivers) {
  describe(`inbound journal (${driver})`, () => {
    let tread: Tread;
    treadPerFile(driver, async (database) => ({ tread: await startTread({ database, config, tickSeconds: 0, inboundLeaseMs: LEASE_MS }) }), (s) => { tread = s.tread; });

    /** A second router on the same database standing for a process that records a request and dies before handling it. */
    const deadProcess = () => new Router(tread.app, tread.workflows, {}, { inboundLeaseMs: LEASE_MS });
    const row = async (inbound: Inbound) => (await queryRows<{ payload: unknown; attempts: number }>(tread.app.db,
      sql`select payload, attempts from deliveries where id = ${`slack:${inbound.deliveryId}`}`))[0];
    const incidentsTitled = async (title: string) => Number((await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from incidents where title = ${title}`))[0]!.n);

    /** This process's Slack replayer: handles again, keeps the replies; `fail` makes it throw. */
    const replays: Reply[] = [];
    const givenUp: Inbound[] = [];
    let fail = false;
    const useReplayer = () => tread.router.journal.replayer('slack', {
      replay: async (inbound) => {
        if (fail) throw new Error('the platform is down');
        replays.push(await tread.router.handle(inbound, { recorded: true }));
      },
      giveUp: async (inbound) => { givenUp.push(inbound); },
    });

    it('records a request once: its retry (same delivery id) is refused', async () => {
      const inbound = incident('Recorded once');
      expect(await tread.router.journal.record(inbound, { responseUrl: 'x' })).toBe(true);
      expect(await tread.router.journal.record(inbound, { responseUrl: 'x' })).toBe(false);
      expect((await row(inbound))!.payload).toMatchObject({ inbound: { text: 'Recorded once' }, target: { responseUrl: 'x' } });
      // requests arriving together are written by one statement; the same delivery twice in it is fresh once
      const burst = Array.from({ length: 20 }, (_, i) => incident(`Burst ${i}`));
      const answers = await Promise.all([...burst, burst[3]!, inbound].map((b) => tread.router.journal.record(b, {})));
      expect(answers).toEqual([...burst.map(() => true), false, false]);
      for (const b of burst) await tread.router.journal.finish(b);
      await tread.router.handle(inbound, { recorded: true });
      expect((await row(inbound))!.payload).toBeNull();
      expect(await incidentsTitled('Recorded once')).toBe(1);
    });

    it('a change marks its request done in its own transaction; a request that changes nothing is marked after', async () => {
      const change = incident('Marked with its change');
      await tread.router.journal.record(change, {});
      await tread.router.handle(change, { recorded: true });
      expect((await row(change))!.payload).toBeNull();
      const audit = await queryRows<{ n: number }>(tread.app.db, sql`select count(*)::int as n from audit_log where data::text like '%Marked with its change%'`);
      expect(Number(audit[0]!.n)).toBeGreaterThan(0);

      const list: CommandInbound = { ...incident(''), text: 'list' };
      await tread.router.journal.record(list, {});
      const reply = await tread.router.handle(list, { recorded: true });
      expect(reply.kind).toBe('ephemeral');
      expect((await row(list))!.payload).toBeNull();
    });

    it('a request left by a dead process is replayed once its lease runs out, and only once', async () => {
      useReplayer();
      const inbound = incident('Left by a dead process');
      expect(await deadProcess().journal.record(inbound, {})).toBe(true);
      expect(await tread.router.journal.sweep()).toBe(0); // its lease still runs
      expect(await incidentsTitled('Left by a dead process')).toBe(0);
      await sleep(LEASE_MS + 50);
      const before = tread.router.journal.counts.replayed;
      expect(await tread.router.journal.sweep()).toBe(1);
      expect(tread.router.journal.counts.replayed).toBe(before + 1);
      expect(replays.at(-1)?.kind).toBe('none'); // /incident answers with the card in the channel
      expect(await incidentsTitled('Left by a dead process')).toBe(1);
      expect(await row(inbound)).toMatchObject({ payload: null, attempts: 1 });
      await sleep(LEASE_MS + 50);
      expect(await tread.router.journal.sweep()).toBe(0);
      expect(await incidentsTitled('Left by a dead process')).toBe(1);
    });

    it('a live process renewing its lease keeps its request', async () => {
      const live = deadProcess();
      const inbound = incident('Held by a live process');
      await live.journal.record(inbound, {});
      for (let i = 0; i < 4; i++) {
        await sleep(LEASE_MS / 2);
        await live.journal.renew();
        expect(await tread.router.journal.sweep()).toBe(0);
      }
      await live.handle(inbound, { recorded: true });
      expect(await incidentsTitled('Held by a live process')).toBe(1);
      expect((await row(inbound))!.payload).toBeNull();
    });

    it(`a request whose replay keeps failing is given up after ${MAX_ATTEMPTS} tries, and the person is told`, async () => {
      useReplayer();
      const inbound = incident('Never gets through');
      await deadProcess().journal.record(inbound, {});
      fail = true;
      try {
        for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
          await sleep(LEASE_MS + 50);
          await tread.router.journal.sweep();
          expect(await row(inbound)).toMatchObject({ attempts: attempt, payload: expect.anything() });
        }
        expect(givenUp).toHaveLength(0);
        await sleep(LEASE_MS + 50);
        await tread.router.journal.sweep();
      } finally {
        fail = false;
      }
      expect(givenUp.map((i) => (i as CommandInbound).text)).toEqual(['Never gets through']);
      expect((await row(inbound))!.payload).toBeNull();
      expect(await incidentsTitled('Never gets through')).toBe(0);
    });
  });
}
