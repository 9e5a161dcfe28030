/** The `tread` command: `tread` (or `tread start`) runs the server; `tread audit verify|head` checks the audit chain. */
import { readFileSync } from 'node:fs';
import { DataDirLockedError, openDatabase } from '../db/client.js';
import { auditHead, parseRecordedHeads, verifyAudit, type RecordedHead } from './core/audit.js';
import { EnvError, loadEnv, pgliteOptions } from './core/config/env.js';

const USAGE = `usage: tread [start]        run the server (console chat when no platform is configured)
       tread audit verify   check the audit hash chain; exit 1 when a row was edited or deleted
         [--head <seq> <hash> | --head <hash> | --head-file <file>]
                            also check that heads recorded elsewhere are still in the chain
                            (the file: lines as \`tread audit head\` prints them; every one is checked)
       tread audit head     print the newest audit hash (record it elsewhere to detect deletion of the newest rows)`;

/** The heads named by --head / --head-file; a string is the one-line error. */
function recordedHeads(args: string[]): RecordedHead[] | string {
  const heads: RecordedHead[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    try {
      if (arg === '--head') {
        // `--head 12 <hash>` (as audit head prints it), `--head 12:<hash>` or `--head <hash>`
        const next = args[i + 1] ?? '';
        const words = /^\d+$/.test(next) ? [next, args[i + 2] ?? ''] : [next];
        i += words.length;
        heads.push(...parseRecordedHeads(words.join(' ')));
      } else if (arg === '--head-file') {
        const file = args[++i];
        if (!file) return '--head-file: name the file';
        let text: string;
        try { text = readFileSync(file, 'utf8'); } catch (e) { return `--head-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`; }
        const parsed = parseRecordedHeads(text);
        if (parsed.length === 0) return `--head-file: ${file} holds no head`;
        heads.push(...parsed);
      } else {
        return `unknown option ${arg}`;
      }
    } catch (e) {
      return `${arg}: ${(e as Error).message}`;
    }
  }
  return heads;
}

async function audit(sub: string | undefined, args: string[]): Promise<number> {
  if (sub !== 'verify' && sub !== 'head') {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const heads = sub === 'verify' ? recordedHeads(args) : args.length ? `unknown option ${args[0]}` : [];
  if (typeof heads === 'string') {
    process.stderr.write(`tread audit ${sub}: ${heads}\n${USAGE}\n`);
    return 2;
  }
  let env;
  try {
    env = loadEnv();
  } catch (e) {
    if (e instanceof EnvError) { process.stderr.write(`tread: bad environment: ${e.message}\n`); return 2; }
    throw e;
  }
  let database;
  try {
    database = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, poolSize: 1 } : pgliteOptions(env));
  } catch (e) {
    if (e instanceof DataDirLockedError) {
      process.stderr.write(`tread: ${e.message}\n(The embedded database has one user at a time: stop tread to verify, or run tread on PostgreSQL.)\n`);
      return 2;
    }
    throw e;
  }
  try {
    if (sub === 'head') {
      const head = await auditHead(database.db);
      process.stdout.write(`${head.seq} ${head.hash}\n`);
      return 0;
    }
    const result = await verifyAudit(database.db, { heads });
    if (result.ok) {
      const checked = heads.length ? `; ${heads.length} recorded head${heads.length === 1 ? '' : 's'} found in it` : '';
      process.stdout.write(`audit chain OK: ${result.rows} rows, head ${result.head}${checked}\n`);
      return 0;
    }
    process.stdout.write(`audit chain BROKEN (${result.problems.length} problems in ${result.rows} rows):\n${result.problems.map((p) => `- ${p}`).join('\n')}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

const [command, sub, ...rest] = process.argv.slice(2);
if (command === undefined || command === 'start') {
  const { main } = await import('./main.js');
  await main();
} else if (command === 'audit') {
  process.exitCode = await audit(sub, rest);
} else {
  process.stderr.write(`${USAGE}\n`);
  process.exitCode = command === 'help' || command === '--help' ? 0 : 2;
}
