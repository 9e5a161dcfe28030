/**
 * PGlite runs one statement or transaction at a time. Work marked `urgently` (a chat request written down before its
 * acknowledgement) goes before the statements already waiting, so an acknowledgement does not queue behind the requests
 * being worked on; everything else keeps its order, and statements inside a transaction are not held at the gate.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, urgently, type Database } from '../../db/client.js';
import { openTestDatabase } from '../helpers/db.js';

describe('PGlite gate', () => {
  let database: Database;
  beforeAll(async () => { database = await openTestDatabase('pglite'); });
  afterAll(async () => { await database?.close(); });

  it('urgent work overtakes waiting work, the rest keeps its order, and a transaction runs its own statements', async () => {
    const done: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    let started!: () => void;
    const inside = new Promise<void>((r) => { started = r; });
    // a transaction holds PGlite; its own statements pass (they are not held behind the queries waiting outside)
    const tx = database.db.transaction(async (t) => {
      await queryRows(t, sql`select 1`);
      started();
      await held;
      await queryRows(t, sql`select 2`);
      done.push('transaction');
    });
    await inside;
    const normal = [1, 2, 3].map((i) => queryRows(database.db, sql`select ${i}::int as n`).then(() => done.push(`normal ${i}`)));
    // let the three reach the gate before the urgent one
    await new Promise((r) => setTimeout(r, 20));
    const urgent = urgently(() => queryRows(database.db, sql`select 'urgent'`)).then(() => done.push('urgent'));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toEqual([]); // all wait while the transaction holds PGlite
    release();
    await Promise.all([tx, ...normal, urgent]);
    expect(done).toEqual(['transaction', 'urgent', 'normal 1', 'normal 2', 'normal 3']);
  });
});
