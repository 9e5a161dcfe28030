/**
 * Benchmark: the known error database. 100 000 known errors (40 services, generated symptoms, titles, workarounds and
 * error codes from a fixed seed), then 1 000 searches with realistic incident titles, as a new incident's hint search runs
 * them (its significant words ORed, filtered by its service, ranked, the best two): p50, p95, p99. Then what the match
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
import { CountingPort } from './counting-port.js';
import { quantileMs } from './util.js';

const SIZE = Number(process.env.BENCH_KEDB_SIZE ?? 100_000);
const SEARCHES = Number(process.env.BENCH_KEDB_SEARCHES ?? 1000);
const INCIDENTS = Number(process.env.BENCH_KEDB_INCIDENTS ?? 300);

/** A small deterministic generator (mulberry32), so every run searches the same corpus. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SERVICES = ['checkout', 'payments', 'search', 'catalog', 'cart', 'login', 'sso', 'email', 'sms', 'billing', 'invoices', 'shipping', 'inventory',
  'pricing', 'reviews', 'recommendations', 'images', 'cdn', 'dns', 'vpn', 'wifi', 'printing', 'hr-portal', 'payroll', 'crm', 'erp', 'warehouse',
  'mobile-api', 'web', 'gateway', 'kafka', 'postgres', 'redis', 'elastic', 'ldap', 'jira', 'wiki', 'ci', 'registry', 'monitoring'];
const COMPONENTS = ['database', 'connection pool', 'cache', 'message queue', 'load balancer', 'ingress', 'TLS certificate', 'DNS resolver', 'disk', 'node',
  'pod', 'container', 'JVM heap', 'thread pool', 'cron job', 'replica', 'index', 'session store', 'API gateway', 'firewall rule', 'proxy', 'worker'];
const SYMPTOMS = ['returns 502 Bad Gateway', 'times out', 'is slow', 'answers 500 Internal Server Error', 'drops connections', 'runs out of memory',
  'restarts repeatedly', 'rejects logins', 'shows stale data', 'loses messages', 'fills the disk', 'hangs', 'returns empty results', 'double charges',
  'sends duplicate emails', 'fails health checks', 'is unreachable', 'throws NullPointerException', 'logs permission denied', 'deadlocks'];
const TRIGGERS = ['after a deploy', 'during the nightly backup', 'under peak load', 'after a failover', 'when the certificate rotates', 'after a node drain',
  'on Mondays', 'after a config change', 'when the cache is cold', 'during batch imports', 'after a schema migration', 'when a replica lags'];
const FIXES = ['Restart the {c} one at a time', 'Fail over to the secondary {c}', 'Clear the {c} and warm it', 'Raise the {c} limit', 'Roll back the last deploy',
  'Drain the {c} and retry', 'Renew the {c} by hand', 'Pause the batch job', 'Scale the {c} out by two', 'Flush the {c}'];
const CODE_PREFIXES = ['ORA', 'HTTP', 'ECONN', 'ERR', 'PG', 'E', 'SSL', 'K8S'];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** One generated known error. */
function knownError(r: () => number, i: number) {
  const service = pick(r, SERVICES);
  const component = pick(r, COMPONENTS);
  const symptom = pick(r, SYMPTOMS);
  const trigger = pick(r, TRIGGERS);
  const code = `${pick(r, CODE_PREFIXES)}-${Math.floor(r() * 90000) + 10000}`;
  return {
    problem_id: i + 1,
    title: `${cap(service)} ${symptom} because the ${component} ${pick(r, ['is exhausted', 'misbehaves', 'is misconfigured', 'lags', 'crashes'])}`,
    symptoms: `${cap(service)} ${symptom} ${trigger}; users see ${pick(r, SYMPTOMS)} and the ${component} ${pick(r, ['logs errors', 'is saturated', 'shows warnings'])}`,
    root_cause: `The ${component} ${pick(r, ['has too small a limit', 'leaks connections', 'is not retried', 'keeps stale entries', 'has a race'])} ${trigger}`,
    workaround: pick(r, FIXES).replace('{c}', component),
    // most known errors belong to one service; some to two; a few to none (they match every service)
    services: r() < 0.05 ? [] : r() < 0.2 ? [service, pick(r, SERVICES)] : [service],
    error_codes: r() < 0.6 ? [code] : [],
  };
}

/** A realistic incident title: a service, a symptom, sometimes a trigger or a component, sometimes an error code. */
function incidentTitle(r: () => number): { title: string; service: string } {
  const service = pick(r, SERVICES);
  const parts = [cap(service), pick(r, SYMPTOMS)];
  if (r() < 0.5) parts.push(pick(r, TRIGGERS));
  if (r() < 0.3) parts.push(`(${pick(r, COMPONENTS)})`);
  if (r() < 0.2) parts.push(`${pick(r, CODE_PREFIXES)}-${Math.floor(r() * 90000) + 10000}`);
  return { title: parts.join(' '), service };
}

async function load(database: Database): Promise<number> {
  const r = rng(42);
  const started = performance.now();
  const now = new Date().toISOString();
  for (let from = 0; from < SIZE; from += 1000) {
    const rows = Array.from({ length: Math.min(1000, SIZE - from) }, (_, j) => knownError(r, from + j));
    await database.db.execute(sql`insert into known_errors (problem_id, title, symptoms, root_cause, workaround, services, error_codes, state, version, created_at, created_by, updated_at)
      select problem_id, title, symptoms, root_cause, workaround, services, error_codes, 'published', 1, ${now}::timestamptz, 'bench', ${now}::timestamptz
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(problem_id int, title text, symptoms text, root_cause text, workaround text, services jsonb, error_codes jsonb)`);
  }
  // settled like a table autovacuum has seen: GIN pending lists merged, statistics current
  await database.db.execute(sql`vacuum analyze known_errors`);
  return (performance.now() - started) / 1000;
}

const config = parseOrganisation(`
organisation: KEDB bench
people:
  - { id: alice, name: Alice, roles: [admin, responder] }
services:
${SERVICES.map((s) => `  - { name: ${s} }`).join('\n')}
`, 'bench.yaml', {});

async function measure(driver: string, database: Database): Promise<void> {
  const loadSeconds = await load(database);
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

/** The corpus and titles, for scripts that look at query plans. */
export { incidentTitle, load, rng };

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!process.env.BENCH_ONLY_POSTGRES) await measure('pglite', await openDatabase({ dataDir: 'memory://' }));
  if (process.env.DATABASE_URL) {
    const { url, drop } = await createPgDatabase();
    await measure('postgres', await openDatabase({ url }));
    await drop();
  }
}
