/**
 * Generated known errors and incident titles for the known error benchmark and the search tests: 40 services, symptoms,
 * triggers, components, workarounds and error codes from small vocabularies, from a fixed seed, so every run searches
 * the same corpus. Their words are all common (each matches some per cent of all known errors): the hard case for a
 * search that ORs an incident's words.
 */
import { sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';

/** A small deterministic generator (mulberry32), so every run searches the same corpus. */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The services known errors belong to. */
export const SERVICES = ['checkout', 'payments', 'search', 'catalog', 'cart', 'login', 'sso', 'email', 'sms', 'billing', 'invoices', 'shipping', 'inventory',
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
export function incidentTitle(r: () => number): { title: string; service: string } {
  const service = pick(r, SERVICES);
  const parts = [cap(service), pick(r, SYMPTOMS)];
  if (r() < 0.5) parts.push(pick(r, TRIGGERS));
  if (r() < 0.3) parts.push(`(${pick(r, COMPONENTS)})`);
  if (r() < 0.2) parts.push(`${pick(r, CODE_PREFIXES)}-${Math.floor(r() * 90000) + 10000}`);
  return { title: parts.join(' '), service };
}

/** Inserts `size` generated known errors (seed 42), settled like a table autovacuum has seen; returns the seconds it took. */
export async function loadKnownErrors(database: Database, size: number): Promise<number> {
  const r = rng(42);
  const started = performance.now();
  const now = new Date().toISOString();
  for (let from = 0; from < size; from += 1000) {
    const rows = Array.from({ length: Math.min(1000, size - from) }, (_, j) => knownError(r, from + j));
    await database.db.execute(sql`insert into known_errors (problem_id, title, symptoms, root_cause, workaround, services, error_codes, state, version, created_at, created_by, updated_at)
      select problem_id, title, symptoms, root_cause, workaround, services, error_codes, 'published', 1, ${now}::timestamptz, 'bench', ${now}::timestamptz
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(problem_id int, title text, symptoms text, root_cause text, workaround text, services jsonb, error_codes jsonb)`);
  }
  // settled like a table autovacuum has seen: GIN pending lists merged, statistics current
  await database.db.execute(sql`vacuum analyze known_errors`);
  return (performance.now() - started) / 1000;
}

