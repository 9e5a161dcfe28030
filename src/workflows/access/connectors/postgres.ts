/**
 * The postgres connector: `GRANT <role> TO <login>` and `REVOKE <role> FROM <login>` on a PostgreSQL server, role and
 * login quoted as identifiers, each verified afterwards by reading `pg_auth_members` (a grant the check does not confirm
 * fails). `list` reads every membership of the resource's roles for reconciliation. The connection string is a secret:
 * it is never logged, and error messages are scrubbed of it.
 */
import type postgres from 'postgres';
import type { AppContext } from '../../../core/app.js';
import type { ResourceConfig } from '../access.config.js';
import type { Membership } from '../access.machine.js';
import { formatDuration } from '../../../core/duration.js';
import { ConnectorError, type Connector, type OutsideCall } from './connector.js';

type Sql = ReturnType<typeof postgres>;

/** Open clients by connection string (few, small, closed when idle). */
const clients = new Map<string, Sql>();

/** A client for the server; postgres.js is loaded on first use, not at every start of tread. */
async function clientFor(connectionString: string): Promise<Sql> {
  let sql = clients.get(connectionString);
  if (!sql) {
    const { default: connect } = await import('postgres');
    sql = clients.get(connectionString) ?? connect(connectionString, { max: 2, idle_timeout: 10, connect_timeout: 10, onnotice: () => {}, prepare: false });
    clients.set(connectionString, sql);
  }
  return sql;
}

/** Closes every open client (tests and benchmarks, before they end). */
export async function closePostgresConnectors(): Promise<void> {
  const open = [...clients.values()];
  clients.clear();
  await Promise.all(open.map((c) => c.end({ timeout: 5 })));
}

/** An identifier as SQL writes it: in double quotes, inner quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function connectionOf(resource: ResourceConfig): string {
  if (resource.connector.kind !== 'postgres') throw new Error(`resource ${resource.name} has no postgres connector`);
  return resource.connector.connectionString;
}

/** The error in words with the connection string and its password taken out. */
function scrub(e: unknown, connectionString: string): string {
  let text = e instanceof Error ? e.message : String(e);
  const secrets = [connectionString];
  try {
    const u = new URL(connectionString);
    if (u.password) secrets.push(u.password, decodeURIComponent(u.password));
  } catch { /* not a URL: the whole string is scrubbed */ }
  for (const s of secrets.filter((x) => x.length >= 3)) text = text.split(s).join('***');
  return text;
}

/** A server's answer (SQLSTATE) is final: retrying the same statement gets the same answer. No answer is not. */
function isServerAnswer(e: unknown): boolean {
  return typeof (e as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((e as { code: string }).code);
}

async function isMember(sql: Sql, role: string, login: string): Promise<boolean> {
  const rows = await sql`select 1 from pg_auth_members am join pg_roles r on r.oid = am.roleid join pg_roles m on m.oid = am.member
    where r.rolname = ${role} and m.rolname = ${login}`;
  return rows.length > 0;
}

/** A call to the target that got no answer within the connector's timeout. */
class NoAnswer extends Error {}

/**
 * Runs `work` on the target's client, bounded by the resource's `timeout`: a target that does not answer (a statement
 * waiting on a lock there, a network that drops packets) is given up on, its connections closed, and the call fails
 * as retryable. Whether a statement that got no answer ran is not known: the next attempt checks pg_auth_members.
 */
async function bounded<T>(resource: ResourceConfig, work: (sql: Sql) => Promise<T>): Promise<T> {
  const cs = connectionOf(resource);
  const ms = resource.connector.kind === 'postgres' ? resource.connector.timeout : 30_000;
  const sql = await clientFor(cs);
  const running = work(sql);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new NoAnswer(`no answer within ${formatDuration(ms)}`)), ms); });
  try {
    return await Promise.race([running, late]);
  } catch (e) {
    if (e instanceof NoAnswer) {
      running.catch(() => undefined); // it fails once its connection is closed below
      if (clients.get(cs) === sql) clients.delete(cs);
      void sql.end({ timeout: 0 }).catch(() => undefined);
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function run(call: OutsideCall, action: 'grant' | 'revoke') {
  const cs = connectionOf(call.resource);
  const { role, login } = call.grant;
  const statement = action === 'grant' ? `GRANT ${quoteIdent(role)} TO ${quoteIdent(login)}` : `REVOKE ${quoteIdent(role)} FROM ${quoteIdent(login)}`;
  const present = await bounded(call.resource, async (sql) => {
    try {
      await sql.unsafe(statement);
    } catch (e) {
      // A removal whose role or login no longer exists is done: nobody can hold it. Anything else is reported.
      const gone = action === 'revoke' && isServerAnswer(e) ? !(await isMember(sql, role, login).catch(() => true)) : false;
      if (!gone) throw new ConnectorError(`${statement} failed: ${scrub(e, cs)}`, action === 'grant' && isServerAnswer(e));
    }
    try {
      return await isMember(sql, role, login);
    } catch (e) {
      throw new ConnectorError(`could not check pg_auth_members after ${statement}: ${scrub(e, cs)}`, false);
    }
  }).catch((e: unknown) => {
    if (e instanceof NoAnswer) throw new ConnectorError(`${statement}: ${e.message} (the next attempt checks whether it ran)`, false);
    throw e;
  });
  if (action === 'grant' && !present) throw new ConnectorError(`${statement} ran, but pg_auth_members does not show ${login} in ${role}`, true);
  if (action === 'revoke' && present) throw new ConnectorError(`${statement} ran, but pg_auth_members still shows ${login} in ${role} (granted another way, or by another grantor)`, false);
  return { status: 'done' as const, note: `${statement}; pg_auth_members ${action === 'grant' ? 'shows' : 'no longer shows'} it` };
}

/** The postgres connector. */
export const postgresConnector: Connector = {
  runs: 'outside',
  grant: (call) => run(call, 'grant'),
  revoke: (call) => run(call, 'revoke'),
  async list(_app: AppContext, resource: ResourceConfig): Promise<Membership[]> {
    const cs = connectionOf(resource);
    const roles = resource.roles.map((r) => r.name);
    try {
      const rows = await bounded(resource, (sql) => sql<{ role: string; login: string }[]>`select r.rolname as role, m.rolname as login
        from pg_auth_members am join pg_roles r on r.oid = am.roleid join pg_roles m on m.oid = am.member
        where r.rolname in ${sql(roles)} order by 1, 2`);
      return rows.map((r) => ({ role: r.role, login: r.login }));
    } catch (e) {
      throw new ConnectorError(`could not read pg_auth_members: ${scrub(e, cs)}`, false);
    }
  },
};
