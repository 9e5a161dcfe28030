/**
 * The outbox dispatcher: sends outbox rows through the chat ports, many records at once.
 *
 * - A record's rows go in order: only the first pending row of an order key is ever claimed (a card's post before its
 *   updates, a record's announcements in order); rows of different records are sent concurrently, up to `concurrency`.
 * - Rows are claimed with SKIP LOCKED and leased, so several processes share one outbox and send each row once.
 * - Across records, higher priority goes first (pages and direct messages, then cards, then counter refreshes).
 * - Pending updates of one card collapse into the newest, which keeps the older one's place in the queue.
 * - Nothing sleeps while other work waits: a row the platform (or its pacer) says must wait is rescheduled
 *   (available_at) without counting an attempt; a failure is retried with backoff; a slow or hung call holds only its
 *   own row. Started (`start()`), the dispatcher wakes by itself when the next rescheduled row comes due.
 */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { queryRows, schema } from '../../../db/client.js';
import type { AppContext } from '../app.js';
import type { ChatPort } from '../chat-port.js';
import { CardConflictError, PermanentChatError, persistThroughOutage, RateLimitedError, SupersededError } from '../errors.js';
import type { Platform } from '../inbound.js';
import type { OutboxPayload } from '../outbox.js';
import { inDelivery } from './context.js';
import { DeliveryStats } from './metrics.js';
import type { Pacer } from './pacer.js';
import { Sender } from './send.js';

/** A row is given up (dead letter) after this many failed attempts. */
export const MAX_ATTEMPTS = 8;
/** How long a claimed row stays reserved for the dispatcher that claimed it. */
const LEASE_MS = 120_000;
/** A row whose sending takes longer than this is given up by this process (and retried) before its lease ends. */
const ROW_TIMEOUT_MS = LEASE_MS - 20_000;
/** The longest a started dispatcher sleeps without looking for due rows (other processes write rows too). */
const MAX_IDLE_MS = 5_000;
/**
 * How often a dispatcher says it is alive (delivery_replicas) and counts the others, at most; one unseen for
 * REPLICA_TTL_S seconds no longer counts. Each keeps `1 / count` of every budget of the platforms (their limits are per
 * workspace or bot, not per process).
 */
const REPLICA_BEAT_MS = 5_000;
const REPLICA_TTL_S = 15;

type OutboxRow = typeof schema.outbox.$inferSelect;

/** Backoff after `attempts` failures: 1s, 2s, 4s … capped at 5 minutes. */
export function backoffMs(attempts: number): number {
  return Math.min(300_000, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** Options of the dispatcher. */
export interface DispatcherOptions {
  /** Rows sent at once (default 16). Each platform's pacer bounds its own calls in flight. */
  concurrency?: number;
  /** The platforms' pacers: the Retry-After windows they are told of are shared with other replicas. */
  pacers?: Pacer[];
  /** How often the replicas are counted, at most (default REPLICA_BEAT_MS; tests count at every pump). */
  replicaBeatMs?: number;
}

/** Raised when sending one row takes longer than its lease allows. */
class RowTimeoutError extends Error {
  override readonly name = 'RowTimeoutError';
}

/** The outbox dispatcher. One per process; several processes may share a PostgreSQL outbox. */
export class Dispatcher {
  readonly stats = new DeliveryStats();
  private readonly sender: Sender;
  private readonly concurrency: number;
  private readonly tasks = new Map<number, Promise<void>>();
  private pumping: Promise<void> | undefined;
  private again = false;
  private handled = 0;
  private started = false;
  private wakeTimer: NodeJS.Timeout | undefined;

  private readonly pacers: Pacer[];
  /** This process among the replicas (delivery_replicas), and when it last said so. */
  private readonly replicaId = randomUUID();
  private countedAt = 0;
  private readonly replicaBeatMs: number;
  /** Set by stop(): the final flush after it must not count this process among the replicas again. */
  private retired = false;

  constructor(private readonly app: AppContext, ports: Map<Platform, ChatPort>, options: DispatcherOptions = {}) {
    this.sender = new Sender(app, ports);
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.pacers = options.pacers ?? [];
    for (const pacer of this.pacers) pacer.onBlocked = (lane, until) => { void this.shareBlock(pacer.platform, lane, until); };
    this.replicaBeatMs = options.replicaBeatMs ?? REPLICA_BEAT_MS;
    const fixed = app.config.delivery.replicas;
    if (fixed) for (const pacer of this.pacers) pacer.setReplicas(fixed);
  }

  /**
   * Says this process is alive and counts the replicas seen within REPLICA_TTL_S (at most every REPLICA_BEAT_MS): each
   * pacer keeps that share of its budgets. Not with a replica count in the organisation file, nor without pacers.
   */
  private async countReplicas(): Promise<void> {
    if (this.pacers.length === 0 || this.app.config.delivery.replicas || this.retired) return;
    const now = Date.now();
    if (now - this.countedAt < this.replicaBeatMs) return;
    this.countedAt = now;
    try {
      // The statement's reads do not see its own insert: the others are counted, then this one.
      const [row] = await queryRows<{ n: number }>(this.app.db, sql`with
          me as (insert into delivery_replicas (id, seen_at) values (${this.replicaId}, now()) on conflict (id) do update set seen_at = excluded.seen_at returning id),
          gone as (delete from delivery_replicas where seen_at < now() - interval '1 hour' returning id)
        select (select count(*) from delivery_replicas where id <> ${this.replicaId} and seen_at > now() - make_interval(secs => ${REPLICA_TTL_S}))::int + 1 as n`);
      for (const pacer of this.pacers) pacer.setReplicas(Number(row?.n ?? 1));
    } catch (e) {
      this.countedAt = 0;
      this.app.log.warn({ err: (e as Error).message }, 'could not count the replicas delivering to chat; keeping the last share');
    }
  }

  /** Records a Retry-After window for the other replicas (they read it before they claim rows). */
  private async shareBlock(platform: string, lane: string, until: number): Promise<void> {
    try {
      await this.app.db.insert(schema.deliveryBlocks).values({ platform, lane, blockedUntil: new Date(until) })
        .onConflictDoUpdate({ target: [schema.deliveryBlocks.platform, schema.deliveryBlocks.lane], set: { blockedUntil: sql`greatest(${schema.deliveryBlocks.blockedUntil}, excluded.blocked_until)` } });
    } catch (e) {
      this.app.log.warn({ err: (e as Error).message, platform, lane }, 'could not share a Retry-After window with other replicas');
    }
  }

  /** The Retry-After windows other replicas were told of, into this process's pacers. */
  private async loadBlocks(): Promise<void> {
    if (this.pacers.length === 0) return;
    const rows = await queryRows<{ platform: string; lane: string; ms: number }>(this.app.db, sql`select platform, lane,
      (extract(epoch from blocked_until) * 1000)::float8 as ms from delivery_blocks where blocked_until > now()`);
    for (const r of rows) this.pacers.find((p) => p.platform === r.platform)?.block(r.lane, Number(r.ms));
  }

  /** Sends in the background from now on: when kicked, and when the next waiting row comes due. */
  start(): void {
    this.started = true;
    this.kick();
  }

  /** Stops waking by itself and waits for the rows being sent. */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.wakeTimer);
    await this.pumping;
    await Promise.allSettled([...this.tasks.values()]);
    this.retired = true;
    if (this.countedAt > 0) {
      // the others take back the whole budget at their next count (the final flush does not count this one again)
      await this.app.db.delete(schema.deliveryReplicas).where(eq(schema.deliveryReplicas.id, this.replicaId)).catch(() => undefined);
    }
  }

  /** Starts sending what is due, without waiting for it. */
  kick(): void {
    void this.pump().catch((e) => this.app.log.error({ err: (e as Error).message }, 'outbox dispatch failed'));
  }

  /** Sends everything due now; resolves when nothing due is left and nothing is being sent. Returns rows handled meanwhile. */
  async flush(): Promise<number> {
    const before = this.handled;
    for (;;) {
      await this.pump();
      if (this.tasks.size > 0) {
        await Promise.race(this.tasks.values());
        continue;
      }
      if (this.pumping) {
        await this.pumping;
        continue;
      }
      break;
    }
    return this.handled - before;
  }

  /** Claims due rows while there is room and starts sending them. Concurrent calls share one run. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      // Never ends before `this.pumping` is set (a run with nothing to do would otherwise clear it too early).
      await null;
      try {
        for (;;) {
          this.again = false;
          if (this.tasks.size < this.concurrency) {
            await this.countReplicas();
            await this.loadBlocks();
            await this.collapseUpdates();
            while (this.tasks.size < this.concurrency) {
              const rows = await this.claim(this.concurrency - this.tasks.size);
              for (const row of rows) this.begin(row);
              if (rows.length === 0) break;
            }
          }
          // Rows sent back to wait come due while others may still be in flight (a slow call): wake for them regardless.
          if (this.started) await this.armWake();
          if (!this.again) break;
        }
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }

  private begin(row: OutboxRow): void {
    const superseded = row.kind === 'update' ? () => this.hasNewerUpdate(row) : undefined;
    const task = inDelivery({ rowId: row.id, priority: row.priority, ...(superseded ? { superseded } : {}) }, () => this.deliver(row))
      .catch((e) => this.app.log.error({ outboxId: row.id, err: (e as Error).message }, 'outbox row could not be settled; its lease will expire and it is retried'))
      .finally(() => {
        this.tasks.delete(row.id);
        this.handled++;
        this.kick();
      });
    this.tasks.set(row.id, task);
  }

  /** True when a newer update of the same card is pending (this one, waiting for its slot, need not be sent). */
  private async hasNewerUpdate(row: OutboxRow): Promise<boolean> {
    const [newer] = await queryRows<{ id: number }>(this.app.db, sql`select id from outbox
      where order_key = ${row.orderKey} and kind = 'update' and status = 'pending' and id > ${row.id} limit 1`);
    return newer !== undefined;
  }

  /** Sleeps until the next waiting row comes due (or a while, since other processes write rows too). */
  private async armWake(): Promise<void> {
    clearTimeout(this.wakeTimer);
    const [next] = await queryRows<{ ms: number | null }>(this.app.db, sql`select (extract(epoch from (min(available_at) - now())) * 1000)::float8 as ms
      from outbox where status in ('pending', 'sending')`);
    const ms = next?.ms === null || next?.ms === undefined ? MAX_IDLE_MS : Math.min(MAX_IDLE_MS, Math.max(0, Number(next.ms)) + 5);
    if (!this.started) return;
    this.wakeTimer = setTimeout(() => this.kick(), ms);
    this.wakeTimer.unref?.();
  }

  /**
   * Pending updates of one card collapse into the newest (not across an unsent post or announcement of the record). The
   * newest keeps the place in the queue of the ones it replaces (their available_at), unless it is more urgent, so a
   * busy card changing all the time is still refreshed when its turn comes.
   */
  private async collapseUpdates(): Promise<void> {
    await this.app.db.execute(sql`with gone as (
        update outbox o set status = 'superseded'
        where o.status = 'pending' and o.kind = 'update'
          and exists (select 1 from outbox n where n.order_key = o.order_key and n.kind = 'update' and n.status = 'pending' and n.id > o.id)
          and not exists (select 1 from outbox p where p.order_key = o.order_key and p.status in ('pending','sending') and p.kind <> 'update' and p.id < o.id)
        returning o.order_key, o.available_at, o.priority
      ), place as (
        select order_key, max(available_at) as available_at, max(priority) as priority from gone group by order_key
      )
      update outbox n set available_at = place.available_at
      from place
      where n.order_key = place.order_key and n.kind = 'update' and n.status = 'pending' and n.priority <= place.priority
        and n.available_at < place.available_at
        and n.id = (select max(m.id) from outbox m where m.order_key = place.order_key and m.kind = 'update' and m.status = 'pending')`);
  }

  /**
   * Claims up to `limit` due rows (the first pending row of each order key only), most urgent first, and leases them.
   * One statement (one round trip; an explicit transaction took four): the rows are locked by the subquery's SKIP LOCKED
   * and leased by the update around it (`= any(array(…))` runs the subquery once, so its limit holds).
   */
  private async claim(limit: number): Promise<OutboxRow[]> {
    const o = schema.outbox;
    const claimed = await this.app.db.update(o)
      .set({ status: 'sending', availableAt: sql`now() + ${`${LEASE_MS} milliseconds`}::interval`, attempts: sql`${o.attempts} + 1` })
      .where(sql`${o.id} = any(array(
        select c.id from outbox c
        where c.status in ('pending', 'sending') and c.available_at <= now()
          and not exists (select 1 from outbox p where p.order_key = c.order_key and p.status in ('pending','sending') and p.id < c.id)
        order by c.priority desc, c.id limit ${limit} for update skip locked))`)
      .returning();
    return claimed.sort((a, b) => b.priority - a.priority || a.id - b.id);
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const { db } = this.app;
    // What an earlier attempt of this row already did (cards updated, threads announced in, platforms messaged): not repeated.
    const done = new Set<string>((row.result as { done?: string[] } | null)?.done ?? []);
    const progress = () => (done.size ? { done: [...done] } : null);
    // Settling the row outlives a database outage (within its lease): a row left 'sending' is sent again when its
    // lease ends, so a message sent while the database was away would be posted twice.
    const settleBy = Date.now() + LEASE_MS - 5_000;
    const settle = (work: () => Promise<unknown>) => persistThroughOutage(work, settleBy);
    let result: Record<string, unknown> | undefined;
    try {
      result = await this.withinLease(this.sender.send(row.payload as unknown as OutboxPayload, done));
    } catch (e) {
      await this.failed(row, e, progress, settle);
      return;
    }
    await settle(() => db.update(schema.outbox).set({ status: 'sent', sentAt: new Date(), lastError: null, result: result ?? null }).where(eq(schema.outbox.id, row.id)));
    this.stats.delivered(row.kind, Math.max(0, (Date.now() - row.createdAt.getTime()) / 1000));
  }

  /** Settles a row whose sending failed: superseded, back to wait (rate limited), retried later, or a dead letter. */
  private async failed(row: OutboxRow, e: unknown, progress: () => { done: string[] } | null, settle: (work: () => Promise<unknown>) => Promise<unknown>): Promise<void> {
    const { db, log } = this.app;
    const err = e as Error;
    if (e instanceof SupersededError) {
      await settle(() => db.update(schema.outbox).set({ status: 'superseded', result: progress(), lastError: null }).where(eq(schema.outbox.id, row.id)));
      return;
    }
    if (e instanceof RateLimitedError) {
      // Waiting is not failing: give the attempt back.
      this.stats.retried(row.kind, 'rate_limited');
      await settle(() => db.update(schema.outbox).set({ status: 'pending', attempts: row.attempts - 1, result: progress(), lastError: `rate limited, retry after ${e.retryAfterMs} ms`, availableAt: new Date(Date.now() + e.retryAfterMs) }).where(eq(schema.outbox.id, row.id)));
      return;
    }
    this.stats.failed++;
    if (e instanceof CardConflictError) this.stats.conflicts++;
    const dead = e instanceof PermanentChatError || e instanceof CardConflictError || row.attempts >= MAX_ATTEMPTS;
    if (dead) {
      this.stats.dead++;
      log.error({ outboxId: row.id, kind: row.kind, orderKey: row.orderKey, attempts: row.attempts, err: err.message }, 'outbox message given up (dead letter)');
      await settle(() => db.update(schema.outbox).set({ status: 'dead', result: progress(), lastError: err.message.slice(0, 2000) }).where(eq(schema.outbox.id, row.id)));
    } else {
      this.stats.retried(row.kind, 'failed');
      log.warn({ outboxId: row.id, kind: row.kind, attempts: row.attempts, err: err.message }, 'outbox message failed; will retry');
      await settle(() => db.update(schema.outbox).set({ status: 'pending', result: progress(), lastError: err.message.slice(0, 2000), availableAt: new Date(Date.now() + backoffMs(row.attempts)) }).where(eq(schema.outbox.id, row.id)));
    }
  }

  /** A row that takes too long is given up here (and retried) before its lease lets another process take it. */
  private async withinLease<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RowTimeoutError(`no answer from the platform within ${ROW_TIMEOUT_MS / 1000} s`)), ROW_TIMEOUT_MS);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
