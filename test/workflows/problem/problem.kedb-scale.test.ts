/**
 * The known error search on a generated corpus larger than its candidate limits (10 000 known errors whose words are
 * all common, 40 incident titles): with a service, the best two are exactly those of ranking every match with
 * `ts_rank_cd`, though only the best 200 by the cheaper `ts_rank` are ranked so; without a service, the known errors
 * matching every word are the candidates when there are enough of them, and an unknown word (an error number nobody
 * has seen) does not empty the answer. PGlite and PostgreSQL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, type Database } from '../../../db/client.js';
import { incidentWords, searchKnownErrors } from '../../../src/workflows/problem/problem.kedb.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { incidentTitle, loadKnownErrors, rng } from '../../helpers/known-errors.js';

const r = rng(7);
const titles = Array.from({ length: 40 }, () => incidentTitle(r));
const wordsOf = (t: { title: string; service: string }, service: string | null) => incidentWords({ title: t.title, description: null, labels: {}, service });
const any = (text: string) => sql`nullif(replace(plainto_tsquery('english', ${text})::text, ' & ', ' | '), '')::tsquery`;

for (const driver of drivers) {
  describe(`the known error search at scale (${driver})`, () => {
    let database: Database;
    beforeAll(async () => {
      database = await openTestDatabase(driver);
      await loadKnownErrors(database, 10_000);
    }, 300_000);
    afterAll(async () => {
      await database?.close();
    });

    /** The best two by ranking every match of any word (in the service's scope) with ts_rank_cd, ties by id. */
    async function exact(text: string, service: string): Promise<{ id: number; rank: string }[]> {
      const rows = await queryRows<{ id: number; rank: number }>(database.db, sql`select id, ts_rank_cd(search, ${any(text)})::float8 as rank from known_errors
        where search @@ ${any(text)} and (services @> ${JSON.stringify([service])}::jsonb or services = '[]'::jsonb) order by rank desc, id limit 2`);
      return rows.map((x) => ({ id: Number(x.id), rank: Number(x.rank).toFixed(4) }));
    }

    it('with a service: the best two are those of ranking every match, though only the best 200 by ts_rank are ranked by ts_rank_cd', async () => {
      let beyond = 0;
      for (const t of titles) {
        const text = wordsOf(t, t.service);
        const hits = await searchKnownErrors(database.db, { text, mode: 'any', service: t.service, limit: 2 });
        expect(hits.map((h) => ({ id: h.id, rank: h.rank.toFixed(4) })), t.title).toEqual(await exact(text, t.service));
        const [n] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from known_errors where search @@ ${any(text)} and (services @> ${JSON.stringify([t.service])}::jsonb or services = '[]'::jsonb)`);
        if (Number(n!.n) > 200) beyond++;
      }
      // the cut to 200 candidates mattered for a good share of the titles
      expect(beyond).toBeGreaterThan(10);
    });

    /** How many of the ids match every word of `text`. */
    async function matchingEvery(ids: number[], text: string): Promise<number> {
      return (await queryRows(database.db, sql`select id from known_errors where id in ${ids} and search @@ plainto_tsquery('english', ${text})`)).length;
    }

    it('without a service: every title gets its best two; when 50 or more known errors match every word, those are the candidates', async () => {
      for (const t of titles) {
        const hits = await searchKnownErrors(database.db, { text: wordsOf(t, null), mode: 'any', service: null, limit: 2 });
        expect(hits, t.title).toHaveLength(2);
        expect(hits[0]!.rank).toBeGreaterThanOrEqual(hits[1]!.rank);
      }
      // (each of these matches every word of 50 known errors or more in this corpus; some others repeat fewer of them more)
      for (const title of ['rejects logins after a deploy', 'times out under peak load', 'drops connections after a failover']) {
        const [all] = await queryRows<{ n: number }>(database.db, sql`select count(*)::int as n from known_errors where search @@ plainto_tsquery('english', ${title})`);
        expect(Number(all!.n), title).toBeGreaterThanOrEqual(50);
        const hits = await searchKnownErrors(database.db, { text: wordsOf({ title, service: '' }, null), mode: 'any', service: null, limit: 2 });
        expect(await matchingEvery(hits.map((h) => h.id), title), title).toBe(2);
      }
    });

    it('without a service: error numbers no known error has do not empty the answer; the best hits match the other words', async () => {
      const text = wordsOf({ title: 'Runs out of memory during batch imports XYZ-00001', service: '' }, null);
      expect(await queryRows(database.db, sql`select id from known_errors where search @@ replace(plainto_tsquery('english', 'XYZ-00001')::text, ' & ', ' | ')::tsquery`)).toEqual([]);
      const hits = await searchKnownErrors(database.db, { text, mode: 'any', service: null, limit: 2 });
      expect(hits).toHaveLength(2);
      expect(await matchingEvery(hits.map((h) => h.id), 'Runs out of memory during batch imports')).toBe(2);
    });
  });
}
