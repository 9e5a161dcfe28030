/**
 * The outbox dispatcher, through startTread with a fake console ChatPort: order per record, rate limits, retries with
 * backoff, dead letters, superseded card updates, and channels on a platform that cannot create them.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryRows, type Database } from '../../db/client.js';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
import { parseOrganisation } from '../../src/workflows/index.js';
import { backoffMs, Dispatcher, MAX_ATTEMPTS } from '../../src/core/delivery/dispatcher.js';
import { Pacer } from '../../src/core/delivery/pacer.js';
import { PermanentChatError, RateLimitedError, UnsupportedError } from '../../src/core/errors.js';
import type { Where } from '../../src/core/inbound.js';
import type { Message } from '../../src/core/message.js';
import { enqueue, type OutboxPayload } from '../../src/core/outbox.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { drivers, openTestDatabase } from '../helpers/db.js';

type Op = 'post' | 'update' | 'dm' | 'postEphemeral' | 'openForm' | 'createChannel' | 'pin';

/** One call that reached the fake platform. */
interface Call {
  op: Op;
  where?: Where;
  ref?: MessageRef;
  message?: Message;
  name?: string;
  members?: PersonAddress[];
  ok: boolean;
  error?: string;
}

/** A console ChatPort that records every call and fails on demand. */
class FakePort implements ChatPort {
  constructor(readonly platform: 'console' | 'slack' = 'console') {}
  calls: Call[] = [];
  canCreateChannels = false;
  /** Message ids this port hands out (a platform that numbers its messages again after a restart). */
  reuseIds = false;
  /** While set, posts wait for it (a slow platform). */
  gate: Promise<void> | undefined;
  private next = 0;
  private rules: { op: Op; times: number; error: () => Error; when?: (c: Call) => boolean }[] = [];

  /** The next `times` calls of `op` (matching `when`) throw `error()`. */
  fail(op: Op, error: () => Error, times = 1, when?: (c: Call) => boolean): void {
    this.rules.push({ op, times, error, when });
  }

  reset(): void {
    this.calls = [];
    this.rules = [];
    this.canCreateChannels = false;
    this.reuseIds = false;
    this.gate = undefined;
    this.next = 0;
  }

  /** Calls that succeeded. */
  get delivered(): Call[] {
    return this.calls.filter((c) => c.ok);
  }

  private attempt(call: Omit<Call, 'ok'>): void {
    const rule = this.rules.find((r) => r.op === call.op && r.times > 0 && (!r.when || r.when({ ...call, ok: false })));
    if (rule) {
      rule.times--;
      const error = rule.error();
      this.calls.push({ ...call, ok: false, error: error.message });
      throw error;
    }
    this.calls.push({ ...call, ok: true });
  }

  async post(where: Where, message: Message): Promise<MessageRef> {
    await this.gate;
    this.attempt({ op: 'post', where, message });
    return { where, messageId: this.reuseIds ? 'm1' : `m${++this.next}` };
  }
  async update(ref: MessageRef, message: Message): Promise<void> {
    this.attempt({ op: 'update', ref, message });
  }
  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    this.attempt({ op: 'dm', message, name: user.userId });
    return { where: { platform: this.platform, channel: `dm:${user.userId}` }, messageId: `m${++this.next}` };
  }
  async postEphemeral(where: Where, user: PersonAddress, message: Message): Promise<void> {
    this.attempt({ op: 'postEphemeral', where, message, name: user.userId });
  }
  async openForm(): Promise<void> {
    throw new UnsupportedError('openForm', 'no forms here');
  }
  async createChannel(name: string, members: PersonAddress[]): Promise<Where> {
    if (!this.canCreateChannels) {
      this.calls.push({ op: 'createChannel', name, members, ok: false, error: 'unsupported' });
      throw new UnsupportedError('createChannel', 'The console cannot create channels.');
    }
    this.attempt({ op: 'createChannel', name, members });
    return { platform: 'console', channel: `chan-${name}` };
  }
  async pin(ref: MessageRef): Promise<void> {
    this.attempt({ op: 'pin', ref });
  }
}

const CONFIG = parseOrganisation(`
people:
  - { id: alice, name: Alice Chen, slack: U0ALICE, roles: [responder] }
  - { id: bob, name: Bob Okafor }
`, 'test', {});

const ops: Where = { platform: 'console', channel: 'ops', name: '#ops' };
const card = (subject: string, v: number): Message => ({ title: `${subject} v${v}`, text: `version ${v}` });

interface OutboxRow {
  id: number;
  kind: string;
  status: string;
  attempts: number;
  last_error: string | null;
  wait_ms: number;
  /** available_at in epoch milliseconds. */
  available_ms: number;
  order_key: string;
}

for (const driver of drivers) {
  describe(`outbox dispatcher (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    const port = new FakePort();
    /** A second platform, so a person can be reached in two places. */
    const slack = new FakePort('slack');

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      tread = await startTread({
        database, config: CONFIG, tickSeconds: 0, workflows: [],
        platforms: () => [{ platform: 'console', port }, { platform: 'slack', port: slack }],
      });
    });
    afterAll(async () => {
      await tread?.stop();
    });
    beforeEach(async () => {
      await database.db.execute(sql`delete from outbox`);
      await database.db.execute(sql`delete from chat_messages`);
      port.reset();
      slack.reset();
    });

    /** Writes rows in one transaction, as a state change does. */
    async function write(...payloads: OutboxPayload[]): Promise<void> {
      await database.db.transaction(async (tx) => {
        for (const p of payloads) await enqueue(tx, p);
      });
    }

    async function rows(orderKey?: string): Promise<OutboxRow[]> {
      const all = await database.rows<OutboxRow>(sql`select id, kind, status, attempts, last_error, order_key,
        (extract(epoch from (available_at - now())) * 1000)::int as wait_ms,
        (extract(epoch from available_at) * 1000)::float8 as available_ms from outbox order by id`);
      return all.map((r) => ({ ...r, id: Number(r.id), attempts: Number(r.attempts), wait_ms: Number(r.wait_ms), available_ms: Math.round(Number(r.available_ms)) }))
        .filter((r) => !orderKey || r.order_key === orderKey);
    }

    /** Makes every waiting row due now (instead of sleeping through the backoff). */
    async function fastForward(): Promise<void> {
      await database.db.execute(sql`update outbox set available_at = now() where status in ('pending', 'sending')`);
    }

    it('keeps per-record order: the card is posted before its update, and announcements go to the card\'s thread', async () => {
      await write(
        { kind: 'post', where: ops, message: card('INC-1', 1), subject: 'INC-1' },
        { kind: 'update', subject: 'INC-1', message: card('INC-1', 2) },
        { kind: 'announce', subject: 'INC-1', message: { text: 'INC-1 acknowledged by Alice Chen' } },
      );
      expect(await tread.dispatcher.flush()).toBe(3);
      expect(port.delivered.map((c) => c.op)).toEqual(['post', 'update', 'post']);
      const [posted, updated, announced] = port.delivered;
      expect(posted!.where).toEqual(ops);
      expect(updated!.ref).toEqual({ where: ops, messageId: 'm1' });
      expect(updated!.message).toEqual(card('INC-1', 2));
      expect(announced!.where).toEqual({ ...ops, thread: 'm1' });
      expect(announced!.message!.text).toBe('INC-1 acknowledged by Alice Chen');
      expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
      const cards = await database.rows<{ subject: string; message_id: string; purpose: string }>(sql`select subject, message_id, purpose from chat_messages`);
      expect(cards).toEqual([{ subject: 'INC-1', message_id: 'm1', purpose: 'card' }]);
    });

    it('a failing post holds back the rest of its record, but not other records', async () => {
      port.fail('post', () => new Error('socket hang up'), 1, (c) => c.message?.title === 'INC-2 v1');
      await write(
        { kind: 'post', where: ops, message: card('INC-2', 1), subject: 'INC-2' },
        { kind: 'update', subject: 'INC-2', message: card('INC-2', 2) },
        { kind: 'announce', subject: 'INC-2', message: { text: 'INC-2 note' } },
      );
      await write({ kind: 'post', where: ops, message: card('INC-3', 1), subject: 'INC-3' });
      await tread.dispatcher.flush();
      expect(port.delivered.map((c) => c.message?.title)).toEqual(['INC-3 v1']);
      expect((await rows('INC-2')).map((r) => [r.kind, r.status, r.attempts])).toEqual([['post', 'pending', 1], ['update', 'pending', 0], ['announce', 'pending', 0]]);

      await fastForward();
      await tread.dispatcher.flush();
      expect(port.delivered.map((c) => `${c.op} ${c.message?.title ?? c.message?.text}`)).toEqual([
        'post INC-3 v1', 'post INC-2 v1', 'update INC-2 v2', 'post INC-2 note',
      ]);
      expect(port.delivered[3]!.where!.thread).toBe(port.delivered[2]!.ref!.messageId);
    });

    it('a RateLimitedError reschedules after Retry-After without counting an attempt; the message goes out once', async () => {
      port.fail('post', () => new RateLimitedError(1500, 'ratelimited'), 1);
      await write({ kind: 'post', where: ops, message: card('INC-4', 1), subject: 'INC-4' });
      const before = Date.now();
      await tread.dispatcher.flush();
      const after = Date.now();
      let [row] = await rows();
      expect(row).toMatchObject({ status: 'pending', attempts: 0, last_error: 'rate limited, retry after 1500 ms' });
      // Due Retry-After after the 429 arrived.
      expect(row!.available_ms).toBeGreaterThanOrEqual(before + 1500);
      expect(row!.available_ms).toBeLessThanOrEqual(after + 1500);

      await tread.dispatcher.flush(); // too early: nothing is sent
      expect(port.delivered).toEqual([]);

      await new Promise((r) => setTimeout(r, Math.max(0, row!.available_ms - Date.now()) + 50));
      await tread.dispatcher.flush();
      [row] = await rows();
      expect(row).toMatchObject({ status: 'sent', attempts: 1, last_error: null });
      expect(port.calls.map((c) => c.ok)).toEqual([false, true]);
      expect(port.delivered).toHaveLength(1);
      await tread.dispatcher.flush();
      expect(port.delivered).toHaveLength(1);
    });

    it('rate limits never make a message dead, however often they come', async () => {
      port.fail('post', () => new RateLimitedError(0), MAX_ATTEMPTS + 3);
      await write({ kind: 'post', where: ops, message: card('INC-5', 1), subject: 'INC-5' });
      for (let i = 0; i < MAX_ATTEMPTS + 3; i++) {
        await tread.dispatcher.flush();
        await fastForward();
      }
      await tread.dispatcher.flush();
      expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 1 });
      expect(port.delivered).toHaveLength(1);
    });

    it(`generic errors retry with growing backoff and end as dead after ${MAX_ATTEMPTS} attempts`, async () => {
      port.fail('post', () => new Error('ECONNRESET'), 100);
      await write({ kind: 'post', where: ops, message: card('INC-6', 1), subject: 'INC-6' });
      const deadBefore = tread.dispatcher.stats.dead;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const before = Date.now();
        await tread.dispatcher.flush();
        const after = Date.now();
        const [row] = await rows();
        expect(row!.attempts).toBe(attempt);
        expect(row!.last_error).toBe('ECONNRESET');
        if (attempt < MAX_ATTEMPTS) {
          expect(row!.status).toBe('pending');
          // Waits backoffMs(attempt) after the failure: 1s, 2s, 4s, …
          expect(row!.available_ms).toBeGreaterThanOrEqual(before + backoffMs(attempt));
          expect(row!.available_ms).toBeLessThanOrEqual(after + backoffMs(attempt));
          if (backoffMs(attempt) >= 4000) {
            await tread.dispatcher.flush(); // not due yet: no extra attempt
            expect(port.calls).toHaveLength(attempt);
          }
          await fastForward();
        } else {
          expect(row!.status).toBe('dead');
        }
      }
      expect(port.calls).toHaveLength(MAX_ATTEMPTS);
      expect(backoffMs(1)).toBe(1000);
      expect(backoffMs(MAX_ATTEMPTS - 1)).toBe(64_000);
      await fastForward();
      await tread.dispatcher.flush();
      expect(port.calls).toHaveLength(MAX_ATTEMPTS);
      expect(tread.dispatcher.stats.dead).toBe(deadBefore + 1);
    });

    it('a PermanentChatError goes dead at once, and the record\'s later rows still go out', async () => {
      port.fail('post', () => new PermanentChatError('channel_not_found'), 1);
      await write(
        { kind: 'post', where: { platform: 'console', channel: 'gone' }, message: card('INC-7', 1), subject: 'INC-7' },
        { kind: 'post', where: ops, message: card('INC-7', 1), subject: 'INC-7' },
      );
      await tread.dispatcher.flush();
      expect((await rows()).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['dead', 1, 'channel_not_found'], ['sent', 1, null]]);
      expect(port.calls.map((c) => [c.op, c.where?.channel, c.ok])).toEqual([['post', 'gone', false], ['post', 'ops', true]]);
    });

    it('superseded card updates: of several pending updates of one record only the newest is sent', async () => {
      await write({ kind: 'post', where: ops, message: card('INC-8', 1), subject: 'INC-8' });
      await tread.dispatcher.flush();
      for (let v = 2; v <= 5; v++) await write({ kind: 'update', subject: 'INC-8', message: card('INC-8', v) });
      await tread.dispatcher.flush();
      const updates = port.delivered.filter((c) => c.op === 'update');
      expect(updates.map((c) => c.message?.title)).toEqual(['INC-8 v5']);
      expect((await rows()).map((r) => `${r.kind}:${r.status}`)).toEqual(['post:sent', 'update:superseded', 'update:superseded', 'update:superseded', 'update:sent']);
    });

    it('updates waiting behind an unsent post are collapsed too, and the announcement between them still goes out', async () => {
      await write(
        { kind: 'post', where: ops, message: card('INC-9', 1), subject: 'INC-9' },
        { kind: 'update', subject: 'INC-9', message: card('INC-9', 2) },
        { kind: 'announce', subject: 'INC-9', message: { text: 'INC-9 acknowledged' } },
        { kind: 'update', subject: 'INC-9', message: card('INC-9', 3) },
      );
      await tread.dispatcher.flush();
      expect(port.delivered.map((c) => `${c.op} ${c.message?.title ?? c.message?.text}`)).toEqual([
        'post INC-9 v1', 'post INC-9 acknowledged', 'update INC-9 v3',
      ]);
      expect((await rows()).map((r) => r.status)).toEqual(['sent', 'superseded', 'sent', 'sent']);
    });

    it('a row left "sending" by a dispatcher that died is taken over once its lease ends', async () => {
      await write({ kind: 'post', where: ops, message: card('INC-10', 1), subject: 'INC-10' });
      await database.db.execute(sql`update outbox set status = 'sending', attempts = 1, available_at = now() + interval '1 minute'`);
      await tread.dispatcher.flush();
      expect(port.calls).toEqual([]); // still leased
      await fastForward();
      await tread.dispatcher.flush();
      expect((await rows())[0]).toMatchObject({ status: 'sent', attempts: 2 });
      expect(port.delivered).toHaveLength(1);
    });

    it('a channel on a port that cannot create channels posts a notice in the card\'s thread instead', async () => {
      await write({ kind: 'post', where: ops, message: card('INC-11', 1), subject: 'INC-11' });
      await tread.dispatcher.flush();
      await write({ kind: 'channel', subject: 'INC-11', name: 'inc-11-checkout-502', members: ['alice', 'bob'], message: card('INC-11', 2), platforms: ['console'] });
      await tread.dispatcher.flush();
      expect(port.calls.map((c) => `${c.op}:${c.ok}`)).toEqual(['post:true', 'createChannel:false', 'post:true']);
      const notice = port.calls[2]!;
      expect(notice.where).toEqual({ ...ops, thread: 'm1' });
      expect(notice.message!.text).toContain('The console cannot create channels.');
      expect(notice.message!.text).toContain('inc-11-checkout-502');
      expect(notice.message!.text).toContain('INC-11');
      const [row] = (await rows()).filter((r) => r.kind === 'channel');
      expect(row).toMatchObject({ status: 'sent', attempts: 1 });
      const result = await database.rows<{ result: unknown }>(sql`select result from outbox where kind = 'channel'`);
      expect(result[0]!.result).toEqual({ console: 'unsupported' });

      // Asked again (a retry, or a second `major`): it is remembered, nothing is repeated.
      await write({ kind: 'channel', subject: 'INC-11', name: 'inc-11-checkout-502', members: ['alice'], message: card('INC-11', 3), platforms: ['console'] });
      await tread.dispatcher.flush();
      expect(port.calls).toHaveLength(3);
    });

    it('a channel for a record with no card yet says so where the channel would have been (the console prints it)', async () => {
      await write({ kind: 'channel', subject: 'INC-12', name: 'inc-12-db', members: ['alice'], message: card('INC-12', 1) });
      await tread.dispatcher.flush();
      expect(port.calls.map((c) => `${c.op}:${c.ok}`)).toEqual(['createChannel:false', 'post:true']);
      expect(port.calls[1]!.where).toEqual({ platform: 'console', channel: 'inc-12-db' });
      expect(port.calls[1]!.message!.text).toContain('inc-12-db');
    });

    it('a channel on a port that can create one invites the members and posts and pins the card there', async () => {
      port.canCreateChannels = true;
      await write({ kind: 'channel', subject: 'INC-13', name: 'inc-13-api', members: ['alice', 'bob', 'nobody'], message: card('INC-13', 1), platforms: ['console'] });
      await tread.dispatcher.flush();
      expect(port.calls.map((c) => c.op)).toEqual(['createChannel', 'post', 'pin']);
      expect(port.calls[0]!.members!.map((m) => m.userId)).toEqual(['alice', 'bob']);
      expect(port.calls[1]!.where).toEqual({ platform: 'console', channel: 'chan-inc-13-api' });
      // Later updates reach the card in the new channel.
      await write({ kind: 'update', subject: 'INC-13', message: card('INC-13', 2) });
      await tread.dispatcher.flush();
      expect(port.calls[3]).toMatchObject({ op: 'update', ref: { messageId: 'm1' } });
    });

    it('a card that is gone for good is forgotten; the other cards of the record are still updated', async () => {
      const svc: Where = { platform: 'console', channel: 'svc-archived' };
      await write(
        { kind: 'post', where: svc, message: card('INC-16', 1), subject: 'INC-16' },
        { kind: 'post', where: ops, message: card('INC-16', 1), subject: 'INC-16' },
      );
      await tread.dispatcher.flush();
      port.fail('update', () => new PermanentChatError('channel is archived'), 1, (c) => c.ref?.where.channel === 'svc-archived');
      await write({ kind: 'update', subject: 'INC-16', message: card('INC-16', 2) });
      await tread.dispatcher.flush();
      expect(port.delivered.filter((c) => c.op === 'update').map((c) => c.ref!.where.channel)).toEqual(['ops']);
      expect((await rows('INC-16')).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
      const cards = await database.rows<{ channel: string }>(sql`select channel from chat_messages where subject = 'INC-16' order by id`);
      expect(cards.map((c) => c.channel)).toEqual(['ops']);
    });

    it('a channel whose card post failed is not created again on the retry', async () => {
      port.canCreateChannels = true;
      port.fail('post', () => new Error('timeout'), 1, (c) => c.where?.channel === 'chan-inc-17-db');
      await write({ kind: 'channel', subject: 'INC-17', name: 'inc-17-db', members: ['alice'], message: card('INC-17', 1), platforms: ['console'] });
      await tread.dispatcher.flush();
      await fastForward();
      await tread.dispatcher.flush();
      expect(port.calls.filter((c) => c.op === 'createChannel')).toHaveLength(1);
      expect(port.delivered.filter((c) => c.op === 'post').map((c) => c.where!.channel)).toEqual(['chan-inc-17-db']);
      expect((await rows('INC-17')).map((r) => r.status)).toEqual(['sent']);
    });

    it('an announcement to a record with two cards that fails half-way is not repeated where it already went', async () => {
      const svc: Where = { platform: 'console', channel: 'svc-checkout' };
      await write(
        { kind: 'post', where: ops, message: card('INC-15', 1), subject: 'INC-15' },
        { kind: 'post', where: svc, message: card('INC-15', 1), subject: 'INC-15' },
      );
      await tread.dispatcher.flush();
      port.fail('post', () => new Error('timeout'), 1, (c) => c.where?.channel === 'svc-checkout' && c.where.thread !== undefined);
      await write({ kind: 'announce', subject: 'INC-15', message: { text: 'INC-15 resolved' } });
      await tread.dispatcher.flush();
      await fastForward();
      await tread.dispatcher.flush();
      const announced = port.delivered.filter((c) => c.message?.text === 'INC-15 resolved').map((c) => `${c.where!.channel}#${c.where!.thread}`);
      expect(announced).toEqual(['ops#m1', 'svc-checkout#m2']);
    });

    it('a dm to a person on two platforms that fails on one is retried there only', async () => {
      // Slack is tried first, then the console: the console fails once, the retry must not page alice on Slack again.
      port.fail('dm', () => new Error('console busy'), 1);
      await write({ kind: 'dm', person: 'alice', message: { text: 'you are paged for INC-16' }, subject: 'INC-16' });
      await tread.dispatcher.flush();
      await fastForward();
      await tread.dispatcher.flush();
      expect(slack.calls.map((c) => `${c.op}:${c.name}:${c.ok}`)).toEqual(['dm:U0ALICE:true']);
      expect(port.calls.map((c) => `${c.op}:${c.name}:${c.ok}`)).toEqual(['dm:alice:false', 'dm:alice:true']);
      const [row] = await database.rows<{ status: string; attempts: number; result: unknown }>(sql`select status, attempts, result from outbox`);
      expect(row).toMatchObject({ status: 'sent', attempts: 2 });
      expect(row!.result).toEqual({ sent: ['slack', 'console'] });
    });

    for (const platform of ['console', 'slack'] as const) {
      it(`a ${platform} message id already recorded for another card is a noticed error, not a silently lost card`, async () => {
        const p = platform === 'console' ? port : slack;
        p.reuseIds = true;
        const where: Where = { platform, channel: 'ops' };
        await write({ kind: 'post', where, message: card('INC-20', 1), subject: 'INC-20' });
        await tread.dispatcher.flush();
        const conflictsBefore = tread.dispatcher.stats.conflicts;
        // The same platform answers with the id it gave INC-20's card (like the console's c1, c2, … after a restart).
        await write({ kind: 'post', where, message: card('INC-21', 1), subject: 'INC-21' });
        await tread.dispatcher.flush();
        const [row] = await rows('INC-21');
        expect(row).toMatchObject({ status: 'dead', attempts: 1 });
        expect(row!.last_error).toBe(`${platform} message m1 in ops is already recorded as a card of INC-20, so it cannot be recorded as a card of INC-21: its updates would be lost (the platform reused a message id)`);
        expect(tread.dispatcher.stats.conflicts).toBe(conflictsBefore + 1);
        // Not posted again (a retry would double the card), and INC-20's card still belongs to INC-20.
        expect(p.delivered.filter((c) => c.op === 'post')).toHaveLength(2);
        const cards = await database.rows<{ subject: string }>(sql`select subject from chat_messages where message_id = 'm1'`);
        expect(cards).toEqual([{ subject: 'INC-20' }]);
        // Recording the same card again (a retried row) is not a conflict.
        await database.db.execute(sql`update outbox set status = 'pending', attempts = 0, available_at = now() where order_key = 'INC-20'`);
        await tread.dispatcher.flush();
        expect((await rows('INC-20'))[0]!.status).toBe('sent');
        expect(tread.dispatcher.stats.conflicts).toBe(conflictsBefore + 1);
      });
    }

    it('sends up to its concurrency at once; kicks while it is full are not lost, and every row goes out', async () => {
      const dispatcher = new Dispatcher(tread.app, new Map([['console', port]]), { concurrency: 2 });
      let open!: () => void;
      port.gate = new Promise<void>((r) => { open = r; });
      await write(...[1, 2, 3, 4, 5].map((i): OutboxPayload => ({ kind: 'post', where: ops, message: card(`INC-3${i}`, 1), subject: `INC-3${i}` })));
      const flushed = dispatcher.flush();
      await new Promise((r) => setTimeout(r, 100));
      // Two in flight, the rest waiting; kicks meanwhile find no room.
      expect((await rows()).filter((r) => r.status === 'sending')).toHaveLength(2);
      for (let i = 0; i < 3; i++) dispatcher.kick();
      await new Promise((r) => setTimeout(r, 50));
      open();
      expect(await flushed).toBe(5);
      expect(port.delivered.map((c) => c.message?.title).sort()).toEqual([1, 2, 3, 4, 5].map((i) => `INC-3${i} v1`));
      // Rows written later still go out: the dispatcher is not stuck.
      await write({ kind: 'post', where: ops, message: card('INC-40', 1), subject: 'INC-40' });
      dispatcher.kick();
      expect(await dispatcher.flush()).toBeGreaterThanOrEqual(0);
      expect(port.delivered.map((c) => c.message?.title)).toContain('INC-40 v1');
    });

    it('a dm reaches a configured person on the console; an unknown person is skipped, not retried', async () => {
      await write({ kind: 'dm', person: 'alice', message: { text: 'you are paged' }, subject: 'INC-14' }, { kind: 'dm', person: 'zed', message: { text: '?' } });
      await tread.dispatcher.flush();
      expect(port.delivered.map((c) => `${c.op}:${c.name}`)).toEqual(['dm:alice']);
      expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent']);
    });

    it('dispatchers on one database count each other: each pacer keeps its share of the budgets, and one that stops gives it back', async () => {
      const ports = new Map([['console', port]]) as Map<'console', ChatPort>;
      const [a, b, c] = [new Pacer('slack'), new Pacer('slack'), new Pacer('slack')];
      const one = new Dispatcher(tread.app, ports, { pacers: [a], replicaBeatMs: 0 });
      const two = new Dispatcher(tread.app, ports, { pacers: [b], replicaBeatMs: 0 });
      await tread.app.db.execute(sql`delete from delivery_replicas`);
      await one.flush();
      expect(a.replicas).toBe(1);
      await two.flush();
      await one.flush();
      expect([a.replicas, b.replicas]).toEqual([2, 2]);
      // a replica that died without stopping counts until it has not been seen for 15 s
      await tread.app.db.execute(sql`insert into delivery_replicas (id, seen_at) values ('dead', now() - interval '10 seconds'), ('long-dead', now() - interval '16 seconds')`);
      await one.flush();
      expect(a.replicas).toBe(3);
      await tread.app.db.execute(sql`delete from delivery_replicas where id = 'dead'`);
      await two.stop();
      await two.flush(); // as tread's own stop does: the final flush does not count it again
      await one.flush();
      expect(a.replicas).toBe(1);
      // a count in the organisation file is kept as it is
      const fixed = new Dispatcher({ ...tread.app, config: { ...tread.app.config, delivery: { ...tread.app.config.delivery, replicas: 4 } } }, ports, { pacers: [c], replicaBeatMs: 0 });
      await fixed.flush();
      await one.flush();
      expect([a.replicas, c.replicas]).toEqual([1, 4]);
      await one.stop();
      // stopped replicas removed their rows; one not seen for an hour goes at the next count
      expect((await queryRows<{ id: string }>(tread.app.db, sql`select id from delivery_replicas order by id`)).map((r) => r.id)).toEqual(['long-dead']);
    });
  });
}
