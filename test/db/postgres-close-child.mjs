/**
 * A separate process for test/db/postgres-patch.test.ts: ends its own PostgreSQL backends under postgres.js and prints
 * how the queries settled, as one JSON line. Run as `node postgres-close-child.mjs <postgres entry file> <scenario>`
 * with DATABASE_URL set. Only backends this process opened are terminated (by pid, or by its own application_name),
 * so a shared server is safe. Each scenario has a pool of its own:
 *   transaction   a transaction's backend ends under it; sql.begin then writes ROLLBACK on the dead connection
 *   reserved      a reserved connection's backend ends; its next two queries (the second is porsager/postgres#1208)
 *   load          small transactions from 16 callers while the pool's backends are ended three times
 * A pooled query afterwards shows the pool reconnects. Every query has a deadline (30 s): a hang is reported, not waited out.
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [entry, scenario] = process.argv.slice(2);
const { default: postgres } = await import(pathToFileURL(entry).href);
const url = process.env.DATABASE_URL;
const app = `tread_patch_${process.pid}_${randomBytes(3).toString('hex')}`;
const sql = postgres(url, { max: 4, onnotice: () => {}, connection: { application_name: app } });
const killer = postgres(url, { max: 1, onnotice: () => {} });

/**
 * How a query settled: ok or the error code within 5 s; 'late' when it settled only after that (a reconnect slowed by a
 * loaded machine: seen once in a full suite run on Node 22); 'hang' when it had not settled after 30 s.
 */
async function settle(query) {
  const started = Date.now();
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve('hang'), 30_000); });
  try {
    const outcome = await Promise.race([Promise.resolve(query).then(() => 'ok', (e) => e.code ?? e.message), deadline]);
    return outcome !== 'hang' && Date.now() - started > 5000 ? 'late' : outcome;
  } finally {
    clearTimeout(timer);
  }
}

const result = { scenario };
if (scenario === 'transaction') {
  result.transaction = await settle(sql.begin(async (tx) => {
    const [{ pid }] = await tx`select pg_backend_pid() as pid`;
    await killer`select pg_terminate_backend(${pid})`;
    await tx`select 1`;
  }));
} else if (scenario === 'reserved') {
  const reserved = await sql.reserve();
  const [{ pid }] = await reserved`select pg_backend_pid() as pid`;
  await killer`select pg_terminate_backend(${pid})`;
  result.reservedFirst = await settle(reserved`select 1`);
  result.reservedSecond = await settle(reserved`select 1`);
} else if (scenario === 'load') {
  let running = true;
  const outcomes = {};
  const caller = async () => {
    while (running) {
      const outcome = await settle(sql.begin(async (tx) => { await tx`select 1`; await tx`select pg_sleep(0.002)`; }));
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  const callers = Array.from({ length: 16 }, caller);
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 150));
    await killer`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${app}`;
  }
  await new Promise((r) => setTimeout(r, 150));
  running = false;
  await Promise.all(callers);
  result.outcomes = outcomes;
}
result.pooledAfter = await settle(sql`select 1 as one`);
await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
process.stdout.write(`${JSON.stringify(result)}\n`);
