/**
 * A vitest reporter that says, after the run's summary, when the PostgreSQL half of the suite did not run: without
 * DATABASE_URL the `(postgres)` suites are not even defined (test/helpers/db.ts `drivers`) and the replica suites are
 * skipped, so a green run would otherwise look like a full one.
 */
import type { Reporter, TestModule, Vitest } from 'vitest/node';

/** Counts the skipped tests whose suite names PostgreSQL (the replica suites, `it.skipIf(driver !== 'postgres')`). */
function skippedOnPostgres(modules: ReadonlyArray<TestModule>): number {
  let n = 0;
  for (const m of modules) {
    for (const t of m.children.allTests('skipped')) if (/postgres/i.test(t.fullName)) n++;
  }
  return n;
}

/** Prints "PostgreSQL tests skipped: DATABASE_URL not set" at the end of a run without DATABASE_URL. */
export default class DatabaseReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    if (process.env.DATABASE_URL) return;
    const skipped = skippedOnPostgres(modules);
    const line = `PostgreSQL tests skipped: DATABASE_URL not set (database tests ran on PGlite only${skipped ? `; ${skipped} PostgreSQL-only tests skipped` : ''}). Set DATABASE_URL=postgres://… to run them.`;
    const log = this.vitest?.logger;
    if (log) log.log(`\n \x1b[33m${line}\x1b[0m\n`);
    else console.log(line);
  }
}
