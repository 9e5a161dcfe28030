/**
 * What tread's database drivers add to drizzle: PGlite gives the event loop a turn before each query (HTTP requests are
 * read between statements), and PostgreSQL prepares parameterised statements (one round trip each) and plans them with
 * their parameters, unless the URL says prepare=false (PgBouncer).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, queryRows, type Database } from '../../db/client.js';
import { createPgDatabase } from '../helpers/db.js';

describe('PGlite yields to the event loop between queries', () => {
  let database: Database;
  beforeAll(async () => { database = await openDatabase({ dataDir: 'memory://' }); });
  afterAll(async () => { await database?.close(); });

  /** Counts event-loop turns (setImmediate callbacks) while `work` runs. */
  async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
    let turns = 0;
    let running = true;
    const spin = () => { if (running) { turns++; setImmediate(spin); } };
    setImmediate(spin);
    try {
      await work();
    } finally {
      running = false;
    }
    return turns;
  }

  it('a run of statements, in and out of a transaction, lets the loop turn at least once per statement', async () => {
    const outside = await turnsDuring(async () => { for (let i = 0; i < 100; i++) await database.db.execute(sql`select ${i}::int as n`); });
    expect(outside).toBeGreaterThanOrEqual(100);
    const inside = await turnsDuring(() => database.db.transaction(async (tx) => { for (let i = 0; i < 100; i++) await tx.execute(sql`select ${i}::int as n`); }));
    expect(inside).toBeGreaterThanOrEqual(100);
  });

  it('transactions still commit and roll back as one', async () => {
    await database.db.execute(sql`create table if not exists yield_probe (n int)`);
    await database.db.transaction(async (tx) => { await tx.execute(sql`insert into yield_probe values (1)`); await tx.execute(sql`insert into yield_probe values (2)`); });
    await expect(database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into yield_probe values (3)`);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    const rows = await database.rows<{ n: number }>(sql`select n from yield_probe order by n`);
    expect(rows.map((r) => r.n)).toEqual([1, 2]);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('PostgreSQL prepares parameterised statements', () => {
  let database: Database;
  let drop = async () => {};
  let url = '';
  beforeAll(async () => {
    const pg = await createPgDatabase();
    drop = pg.drop;
    url = pg.url;
    database = await openDatabase({ url: pg.url, poolSize: 1 });
  });
  afterAll(async () => { await database?.close(); await drop(); });

  it('a statement with parameters is a named prepared statement of the connection, in and out of transactions', async () => {
    const marker = `probe_${Date.now()}`;
    await database.db.execute(sql`select ${marker}::text as marker`);
    await database.db.transaction(async (tx) => { await tx.execute(sql`select ${marker}::text as inside, ${1}::int as n`); });
    // one connection in the pool: its prepared statements hold both
    const prepared = await database.rows<{ statement: string }>(sql`select statement from pg_prepared_statements`);
    expect(prepared.some((p) => p.statement.includes('as marker'))).toBe(true);
    expect(prepared.some((p) => p.statement.includes('as inside'))).toBe(true);
  });

  it('statements are planned with their parameters (force_custom_plan); ?prepare=false turns both off', async () => {
    const mode = async (d: Database) => (await queryRows<{ plan_cache_mode: string }>(d.db, sql`show plan_cache_mode`))[0]!.plan_cache_mode;
    expect(await mode(database)).toBe('force_custom_plan');
    const plain = await openDatabase({ url: `${url}${url.includes('?') ? '&' : '?'}prepare=false`, poolSize: 1, migrate: false });
    try {
      expect(await mode(plain)).toBe('auto');
      await plain.db.execute(sql`select ${1}::int as unprepared_probe`);
      const prepared = await plain.rows<{ n: number }>(sql`select count(*)::int as n from pg_prepared_statements where statement like ${'%unprepared_probe%'}`);
      expect(Number(prepared[0]!.n)).toBe(0);
    } finally {
      await plain.close();
    }
  });

  it('a prepared statement is reused: running it again adds no statement', async () => {
    const count = async () => Number((await database.rows<{ n: number }>(sql`select count(*)::int as n from pg_prepared_statements where statement like ${'%reuse_probe%'}`))[0]!.n);
    for (let i = 0; i < 5; i++) await database.db.execute(sql`select ${i}::int as reuse_probe`);
    expect(await count()).toBe(1);
  });
});
