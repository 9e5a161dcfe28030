import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { createPgDatabase, drivers, pgliteSnapshotFile } from '../helpers/db.js';
import { lastIncidentId, startIncidentTread } from '../workflows/incident/incident.fakes.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Each run starts tsx and opens the database: seconds each on a busy machine. */
const SLOW = 180_000;

/** Runs `tread` (src/cli.ts through tsx, as `node --import tsx`: npx would add a second Node start) and returns its exit code and output. */
function tread(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'TREAD_DATA_DIR', 'TREAD_CONFIG', 'NODE_OPTIONS'].includes(k) && !k.startsWith('VITEST')));
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: { ...clean, ...env }, timeout: 150_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (error as unknown as { code: number }).code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

for (const driver of drivers) {
  describe(`tread audit verify | head (${driver})`, () => {
    let dir: string;
    let env: Record<string, string>;
    let open: () => Promise<Database>;
    let drop = async () => {};
    let rows = 0;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tread-cli-audit-'));
      if (driver === 'pglite') {
        const snapshot = await pgliteSnapshotFile();
        env = { TREAD_DATA_DIR: join(dir, 'data'), TREAD_PGLITE_SNAPSHOT: snapshot };
        open = () => openDatabase({ dataDir: join(dir, 'data'), pgliteSnapshot: snapshot });
      } else {
        const pg = await createPgDatabase();
        drop = pg.drop;
        env = { DATABASE_URL: pg.url, TREAD_DATA_DIR: join(dir, 'unused') };
        open = () => openDatabase({ url: pg.url, poolSize: 1 });
      }
      const database = await open();
      const t = await startIncidentTread(database);
      await t.command('alice', '/incident Checkout returns 502 for all users');
      const id = await lastIncidentId(t);
      await t.command('bob', `/incident ack INC-${id}`);
      await t.command('bob', `/incident resolve INC-${id} restarted the ingress pods`);
      await t.command('alice', '/incident Search is slow impact:low');
      await t.tread.stop(); // closes the database and releases the data directory
      rows = 4;
    });
    afterAll(async () => {
      await drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('verify says OK with the row count and head; head prints seq and hash', async () => {
      const verify = await tread(['audit', 'verify'], env);
      expect(verify.stderr).toBe('');
      expect(verify.code).toBe(0);
      const m = /^audit chain OK: (\d+) rows, head ([0-9a-f]{64})\n$/.exec(verify.stdout);
      expect(m, verify.stdout).not.toBeNull();
      expect(Number(m![1])).toBe(rows);
      const head = await tread(['audit', 'head'], env);
      expect(head.code).toBe(0);
      expect(head.stdout).toBe(`${rows} ${m![2]}\n`);

      // a head recorded elsewhere, given as audit head printed it (one argument or two) and in a file of several
      const one = await tread(['audit', 'verify', '--head', head.stdout.trim()], env);
      expect([one.code, one.stdout]).toEqual([0, `audit chain OK: ${rows} rows, head ${m![2]}; 1 recorded head found in it\n`]);
      const two = await tread(['audit', 'verify', '--head', String(rows), m![2]!], env);
      expect(two.code).toBe(0);
      const file = join(dir, 'heads.txt');
      writeFileSync(file, `# recorded daily\n${head.stdout}`);
      const fromFile = await tread(['audit', 'verify', '--head-file', file], env);
      expect([fromFile.code, fromFile.stdout]).toEqual([0, `audit chain OK: ${rows} rows, head ${m![2]}; 1 recorded head found in it\n`]);
      // a head that was never in this chain: exit 1, named
      const foreign = await tread(['audit', 'verify', '--head', `${rows + 2}:${'0'.repeat(64)}`], env);
      expect(foreign.code).toBe(1);
      expect(foreign.stdout).toContain(`is beyond the chain's end (row ${rows}): rows ${rows + 1}…${rows + 2} were deleted`);
      // bad options: usage, exit 2
      const bad = await tread(['audit', 'verify', '--head', 'nonsense'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('tread audit verify: --head: line 1: expected "<seq> <hash>"');
      const missing = await tread(['audit', 'verify', '--head-file', join(dir, 'nowhere.txt')], env);
      expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([2, `tread audit verify: --head-file: cannot read ${join(dir, 'nowhere.txt')}: ENOENT`]);
    }, SLOW);

    it.skipIf(driver !== 'pglite')('refuses to open a PGlite directory another live process holds', async () => {
      const database = await open();
      try {
        const locked = await tread(['audit', 'verify'], env);
        expect(locked.code).toBe(2);
        expect(locked.stderr).toMatch(/^tread: The data directory .+ is in use by another tread process \(pid \d+\)/);
        expect(locked.stderr).toContain('The embedded database has one user at a time');
      } finally {
        await database.close();
      }
    }, SLOW);

    it('answers usage for an unknown audit subcommand', async () => {
      const bad = await tread(['audit', 'fix'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('tread audit verify');
    }, SLOW);

    it('exits 1 naming the row when a row was edited with raw SQL, and names deleted rows', async () => {
      let database = await open();
      await database.db.execute(sql`update audit_log set data = '{"title":"nothing happened"}'::jsonb where seq = 2`);
      await database.close();
      const edited = await tread(['audit', 'verify'], env);
      expect(edited.code).toBe(1);
      expect(edited.stdout).toBe(`audit chain BROKEN (1 problems in ${rows} rows):\n- row 2: content does not match its hash (the row was edited)\n`);

      database = await open();
      await database.db.execute(sql`delete from audit_log where seq = 3`);
      await database.close();
      const deleted = await tread(['audit', 'verify'], env);
      expect(deleted.code).toBe(1);
      expect(deleted.stdout).toContain('- row 2: content does not match its hash (the row was edited)');
      expect(deleted.stdout).toContain('- rows 3…3 are missing (deleted)');
      expect(deleted.stdout).toContain('- row 4: previous hash does not match row before it');
    }, SLOW);
  });
}
