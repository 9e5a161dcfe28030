/**
 * Benchmark: the known error database. 100 000 known errors (40 services, generated symptoms, titles, workarounds and
 * error codes from a fixed seed: test/helpers/known-errors.ts), then 1 000 searches with realistic incident titles, as a
 * new incident's hint search runs them (its significant words ORed, filtered by its service, ranked, the best two):
 * p50, p95, p99; the same titles as incidents without a service (every known error a candidate). Then what the match
 * adds to opening an incident (`/incident <title> service:x` through the router, with and without the problem workflow
 * on the same data, the after-commit work of one finished before the next is opened): the search runs after the
 * incident's commit, so it should add nothing measurable to the reply.
 * Prints one JSON line per measurement. Run: npm run bench:kedb   (DATABASE_URL adds the PostgreSQL run)
 * Knobs: BENCH_KEDB_SIZE=100000 BENCH_KEDB_SEARCHES=1000 BENCH_KEDB_INCIDENTS=300 BENCH_ONLY_POSTGRES=1.
 */
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { openDatabase, type Database } from '../db/client.js';
import { startTread } from '../src/runtime.js';
import { allWorkflows, parseOrganisation } from '../src/workflows/index.js';
import { incidentWords, searchKnownErrors } from '../src/workflows/problem/problem.kedb.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { incidentTitle, loadKnownErrors, rng, SERVICES } from '../test/helpers/known-errors.js';
import { CountingPort } from './counting-port.js';
import { openBenchPglite, PGLITE_STORAGE, quantileMs } from './util.js';

const SIZE = Number(process.env.BENCH_KEDB_SIZE ?? 100_000);
const SEARCHES = Number(process.env.BENCH_KEDB_SEARCHES ?? 1000);
const INCIDENTS = Number(process.env.BENCH_KEDB_INCIDENTS ?? 300);

const config = parseOrganisation(`
organisation: KEDB bench
people:
  - { id: alice, name: Alice, roles: [admin, responder] }
services:
${SERVICES.map((s) => `  - { name: ${s} }`).join('\n')}
`, 'bench.yaml', {});

async function measure(driver: string, database: Database): Promise<void> {
  const loadSeconds = await loadKnownErrors(database, SIZE);
  // the hint search of a new incident, as the after-commit subscriber runs it
  const r = rng(7);
  const queries = Array.from({ length: SEARCHES }, () => incidentTitle(r));
  for (const q of queries.slice(0, 20)) await searchKnownErrors(database.db, { text: incidentWords({ title: q.title, description: null, labels: {}, service: q.service }), mode: 'any', service: q.service, limit: 2 }); // warm-up
  const latencies: number[] = [];
  let matched = 0;
  let aboveThreshold = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const hits = await searchKnownErrors(database.db, { text: incidentWords({ title: q.title, description: null, labels: {}, service: q.service }), mode: 'any', service: q.service, limit: 2 });
    latencies.push(performance.now() - t0);
    if (hits.length) matched++;
    if (hits.some((h) => h.rank >= config.problem.kedbMatch.threshold)) aboveThreshold++;
  }
  latencies.sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: 'kedb', driver, what: 'hint search (any word, by service, best 2)', knownErrors: SIZE, loadSeconds: Number(loadSeconds.toFixed(1)), searches: SEARCHES,
    p50ms: quantileMs(latencies, 0.5), p95ms: quantileMs(latencies, 0.95), p99ms: quantileMs(latencies, 0.99), withMatches: matched, aboveThreshold,
  }));
  // an incident without a service: its words against every known error
  const anyService: number[] = [];
  let anyMatched = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const hits = await searchKnownErrors(database.db, { text: incidentWords({ title: q.title, description: null, labels: {}, service: null }), mode: 'any', service: null, limit: 2 });
    anyService.push(performance.now() - t0);
    if (hits.some((h) => h.rank >= config.problem.kedbMatch.threshold)) anyMatched++;
  }
  anyService.sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: 'kedb', driver, what: 'hint search (any word, no service, best 2)', knownErrors: SIZE, searches: SEARCHES,
    p50ms: quantileMs(anyService, 0.5), p95ms: quantileMs(anyService, 0.95), p99ms: quantileMs(anyService, 0.99), aboveThreshold: anyMatched,
  }));
  // people's search: every word of a few words, any service
  const people: number[] = [];
  for (const q of queries.slice(0, 300)) {
    const words = q.title.split(' ').slice(0, 3).join(' ');
    const t0 = performance.now();
    await searchKnownErrors(database.db, { text: words, mode: 'all', limit: 5 });
    people.push(performance.now() - t0);
  }
  people.sort((a, b) => a - b);
  console.log(JSON.stringify({ bench: 'kedb', driver, what: '/problem kedb (every word, any service, best 5)', knownErrors: SIZE, searches: people.length, p50ms: quantileMs(people, 0.5), p95ms: quantileMs(people, 0.95), p99ms: quantileMs(people, 0.99) }));

  // opening incidents: what the after-commit match adds to the reply (with and without the problem workflow, same data)
  for (const withProblem of [true, false, true, false]) {
    const port = new CountingPort();
    const workflows = withProblem ? allWorkflows : allWorkflows.filter((w) => w.name !== 'problem');
    const tread = await startTread({ database, config, tickSeconds: 0, workflows, platforms: () => [{ platform: 'console', port }] });
    const where = { platform: 'console' as const, channel: 'console' };
    const times: number[] = [];
    const rr = rng(withProblem ? 11 : 13);
    for (let i = 0; i < INCIDENTS; i++) {
      const q = incidentTitle(rr);
      const t0 = performance.now();
      const reply = await tread.router.handle({ kind: 'command', name: 'incident', text: `${q.title} service:${q.service}`, actor: { platform: 'console', id: 'alice' }, where, deliveryId: `k${withProblem}-${i}-${Math.random()}` });
      times.push(performance.now() - t0);
      if (reply.kind === 'ephemeral') throw new Error(reply.message.text);
      // incidents arrive seconds apart, not back to back: the search after this one's commit ends before the next
      await tread.scheduler.tick();
    }
    await tread.scheduler.tick();
    const [hints] = await database.rows<{ n: number }>(sql`select count(*)::int as n from kedb_hints`);
    await tread.stop({ closeDatabase: false });
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ bench: 'kedb', driver, what: '/incident <title> service:x reply', problemWorkflow: withProblem, incidents: INCIDENTS, p50ms: quantileMs(times, 0.5), p95ms: quantileMs(times, 0.95), p99ms: quantileMs(times, 0.99), hintsSoFar: Number(hints?.n ?? 0) }));
  }
  await database.close();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!process.env.BENCH_ONLY_POSTGRES) await measure(`pglite-${PGLITE_STORAGE}`, await openBenchPglite());
  if (process.env.DATABASE_URL) {
    const { url, drop } = await createPgDatabase();
    await measure('postgres', await openDatabase({ url }));
    await drop();
  }
}
