/** One tread per test file: opens a test database and starts a tread on it before the file's tests, stops both after. */
import { afterAll, beforeAll } from 'vitest';
import type { Database } from '../../db/client.js';
import type { Tread } from '../../src/runtime.js';
import { openTestDatabase, type Driver } from './db.js';

/** Registers beforeAll/afterAll hooks in the current describe: `start` runs on a fresh database, `use` receives what it started. */
export function treadPerFile<T extends { tread: Tread }>(driver: Driver, start: (database: Database) => Promise<T>, use: (started: T) => void): void {
  let database: Database | undefined;
  let started: T | undefined;
  beforeAll(async () => {
    database = await openTestDatabase(driver);
    started = await start(database);
    use(started);
  });
  afterAll(async () => {
    await started?.tread.stop({ closeDatabase: false });
    await database?.close();
  });
}
