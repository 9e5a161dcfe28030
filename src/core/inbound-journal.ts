/**
 * The inbound journal: chat requests written down before they are acknowledged, so an acknowledged request is never
 * lost with the process that received it.
 *
 * Slack wants an answer within 3 s and tread acknowledges a command at once, then works on it; a Teams card action past
 * its deadline is answered "still working" and finished after. A crash, a deploy or an out-of-memory kill between the
 * acknowledgement and the end of the work would lose what the person was told was received. So the adapter records the
 * request (its delivery id, which also deduplicates platform retries, with the inbound and where to answer) before it
 * acknowledges, in the same statement that the router's duplicate check used to be. The process working on it holds a
 * lease on the row, renewed while it works; the row is marked done as soon as the router has handled it. A row whose
 * lease ran out belongs to a process that died: any replica (or the next start) claims it and works on it again through
 * the platform's replayer, which answers the person where it can (Slack's response_url lives 30 minutes; Teams posts to
 * the conversation). After MAX_ATTEMPTS the person is told it failed instead.
 *
 * A request is marked done in the transaction of its first change: the audit row every change writes carries the
 * update (`doneWithAudit`, no extra round trip), so a crash cannot leave a change committed and its request
 * replayable. A request that changes nothing (a list, a help text) is marked done after it is handled; replaying it
 * is harmless.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, urgently } from '../../db/client.js';
import type { AppContext } from './app.js';
import type { Inbound, Platform } from './inbound.js';

/** How long a process holds a request it works on without renewing (renewed every third of it). */
export const INBOUND_LEASE_MS = 15_000;
/** Replays of one request before the person is told it failed. */
export const MAX_ATTEMPTS = 3;

/** What a platform adapter does with a request found unfinished. */
export interface Replayer<T = unknown> {
  /** Works on the request again (the router with `{ recorded: true }`) and answers the person where it can. */
  replay(inbound: Inbound, target: T): Promise<void>;
  /** Tells the person the request could not be completed. */
  giveUp(inbound: Inbound, target: T): Promise<void>;
}

/** The recorded request being handled in this async context, and whether a change's transaction marked it done. */
interface Handling {
  key: string | undefined;
  marked: boolean;
}

const handling = new AsyncLocalStorage<Handling>();

/**
 * Runs the handling of a recorded request; resolves with its result and whether a change's transaction marked it done
 * (then nothing is left to finish). Work started from it after it returns (after-commit subscribers) marks nothing.
 */
export async function handleRecorded<T>(key: string, work: () => Promise<T>): Promise<{ result: T; marked: boolean }> {
  const state: Handling = { key, marked: false };
  try {
    const result = await handling.run(state, work);
    return { result, marked: state.marked };
  } finally {
    state.key = undefined;
  }
}

/**
 * For the audit statement of a change: a CTE marking the recorded request being handled done, in the change's own
 * transaction; an empty fragment outside one (or once it is marked).
 */
export function doneWithAudit(): SQL {
  const state = handling.getStore();
  if (!state?.key) return sql``;
  state.marked = true;
  return sql`, inbound_done as (update deliveries set payload = null, lease_until = null where id = ${state.key}::text and payload is not null returning 1)`;
}

/** What is stored for a request. */
interface Entry {
  inbound: Inbound;
  target: unknown;
}

/** The database key of a request: the same as the router's delivery key. */
export function deliveryKey(inbound: Pick<Inbound, 'where' | 'deliveryId'>): string {
  return `${inbound.where.platform}:${inbound.deliveryId}`;
}

/** Options of the journal. */
export interface InboundJournalOptions {
  /** Lease length (default INBOUND_LEASE_MS); tests shorten it. */
  leaseMs?: number;
}

/** Records, leases, finishes and replays acknowledged chat requests. */
export class InboundJournal {
  private readonly held = new Set<string>();
  /** Requests waiting to be recorded by the next statement. */
  private batch: { key: string; entry: Entry; resolve: (fresh: boolean) => void; reject: (e: unknown) => void }[] = [];
  private writing = false;
  private readonly replayers = new Map<Platform, Replayer>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  readonly leaseMs: number;
  /** Requests replayed and given up by this process (for tests and logs). */
  readonly counts = { replayed: 0, givenUp: 0 };

  constructor(private readonly app: AppContext, options: InboundJournalOptions = {}) {
    this.leaseMs = options.leaseMs ?? INBOUND_LEASE_MS;
  }

  /** Registers how a platform's requests are replayed. */
  replayer<T>(platform: Platform, replayer: Replayer<T>): void {
    this.replayers.set(platform, replayer as Replayer);
  }

  /**
   * Writes the request down (durably) before it is acknowledged. False when its delivery id was seen before: a
   * platform's retry, to acknowledge and drop. Throws when the database cannot be reached: the adapter then answers that
   * the request was not received. Requests arriving together are written by one statement (a burst of 50 commands
   * would otherwise queue 50 commits ahead of their acknowledgements, on PGlite behind the work of the ones before).
   */
  record(inbound: Inbound, target: unknown): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.batch.push({ key: deliveryKey(inbound), entry: { inbound, target }, resolve, reject });
      if (this.batch.length === 1 && !this.writing) setImmediate(() => { void this.writeBatches(); });
    });
  }

  /** Writes what waits to be recorded, one statement at a time: what arrives meanwhile goes into the next one. */
  private async writeBatches(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.batch.length > 0) await this.writeBatch(this.batch.splice(0));
    } finally {
      this.writing = false;
    }
  }

  /** Writes a batch of requests in one statement; a delivery id twice in it is fresh once. */
  private async writeBatch(batch: typeof this.batch): Promise<void> {
    const first = new Map<string, (typeof batch)[number]>();
    for (const b of batch) if (!first.has(b.key)) first.set(b.key, b);
    const unique = [...first.values()];
    try {
      // Urgent on PGlite: the acknowledgements wait for it, not behind the requests already being worked on.
      const rows = await urgently(() => queryRows<{ id: string }>(this.app.db, sql`insert into deliveries (id, payload, lease_until)
        select r.id, r.payload, now() + make_interval(secs => ${this.leaseMs / 1000})
        from jsonb_to_recordset(${JSON.stringify(unique.map((b) => ({ id: b.key, payload: b.entry })))}::jsonb) as r(id text, payload jsonb)
        on conflict do nothing returning id`));
      const written = new Set(rows.map((r) => r.id));
      for (const b of batch) {
        const fresh = first.get(b.key) === b && written.has(b.key);
        if (fresh) this.held.add(b.key);
        b.resolve(fresh);
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  /** Marks a recorded request handled (its payload is dropped; the id stays to deduplicate retries). */
  async finish(inbound: Pick<Inbound, 'where' | 'deliveryId'>): Promise<void> {
    const key = deliveryKey(inbound);
    this.held.delete(key);
    try {
      await queryRows(this.app.db, sql`update deliveries set payload = null, lease_until = null where id = ${key}`);
    } catch (e) {
      // Left unfinished, it is replayed once its lease ends: logged, as that runs the request twice.
      this.app.log.warn({ deliveryId: key, err: (e as Error).message }, 'could not mark a chat request done; it will be replayed');
    }
  }

  /** Lets go of a request without finishing it (the router could not handle it and dropped it, or another replica will). */
  release(inbound: Pick<Inbound, 'where' | 'deliveryId'>): void {
    this.held.delete(deliveryKey(inbound));
  }

  /** Renews the leases of the requests this process works on, and replays those whose process died. */
  start(): void {
    if (this.timer) return;
    const every = Math.max(50, Math.floor(this.leaseMs / 3));
    this.timer = setInterval(() => { void this.beat(); }, every);
    this.timer.unref();
    void this.beat();
  }

  /** Stops renewing and replaying (the adapters drain their work first; what is left is replayed elsewhere). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  private async beat(): Promise<void> {
    try {
      await this.renew();
      await this.sweep();
    } catch (e) {
      this.app.log.warn({ err: (e as Error).message }, 'inbound journal: could not renew or replay (the database?)');
    }
  }

  /** Extends the leases this process holds. */
  async renew(): Promise<void> {
    if (this.held.size === 0) return;
    await queryRows(this.app.db, sql`update deliveries set lease_until = now() + make_interval(secs => ${this.leaseMs / 1000})
      where id in (select jsonb_array_elements_text(${JSON.stringify([...this.held])}::jsonb)) and payload is not null`);
  }

  /** Claims requests whose lease ran out and replays them; resolves with how many. Concurrent calls share one run. */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => { this.sweeping = undefined; });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const platforms = [...this.replayers.keys()];
    if (platforms.length === 0) return 0;
    let done = 0;
    for (;;) {
      const claimed = await queryRows<{ id: string; payload: Entry; attempts: number }>(this.app.db, sql`update deliveries d
        set lease_until = now() + make_interval(secs => ${this.leaseMs / 1000}), attempts = d.attempts + 1
        where d.id in (select id from deliveries where payload is not null and lease_until < now()
          and payload->'inbound'->'where'->>'platform' in (select jsonb_array_elements_text(${JSON.stringify(platforms)}::jsonb))
          order by lease_until limit 20 for update skip locked)
        returning d.id, d.payload, d.attempts`);
      if (claimed.length === 0) return done;
      for (const row of claimed) {
        const entry = typeof row.payload === 'string' ? (JSON.parse(row.payload) as Entry) : row.payload;
        const replayer = this.replayers.get(entry.inbound.where.platform)!;
        this.held.add(row.id);
        try {
          if (Number(row.attempts) > MAX_ATTEMPTS) {
            this.app.log.error({ deliveryId: row.id, attempts: row.attempts }, 'a chat request failed on every replay; telling the person');
            await replayer.giveUp(entry.inbound, entry.target);
            this.counts.givenUp++;
            await this.finish(entry.inbound);
          } else {
            this.app.log.warn({ deliveryId: row.id, attempt: row.attempts }, 'replaying a chat request its process did not finish');
            await replayer.replay(entry.inbound, entry.target);
            this.counts.replayed++;
          }
        } catch (e) {
          this.release(entry.inbound); // the lease runs out and the next sweep tries again
          this.app.log.warn({ deliveryId: row.id, err: (e as Error).message }, 'replaying a chat request failed; it is tried again later');
        }
        done++;
      }
    }
  }
}
