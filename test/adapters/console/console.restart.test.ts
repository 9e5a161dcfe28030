/** Console cards keep updating after tread restarts on the same database: message ids are never reused across processes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.js';
import { openDatabase, schema, type Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { createPgDatabase, drivers } from '../../helpers/db.js';
import { START, exampleConfig } from '../../workflows/incident/incident.fakes.js';
import { Terminal } from './terminal.js';

for (const driver of drivers) {
  describe(`console after a restart (${driver})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tread-console-restart-'));
    let pg: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
    const open = async (): Promise<Database> => {
      if (driver === 'pglite') return openDatabase({ dataDir: dir });
      pg ??= await createPgDatabase();
      return openDatabase({ url: pg.url });
    };
    /** One tread process's worth: a database opened on the same data, a console, a terminal. */
    const start = async () => {
      const database = await open();
      const term = new Terminal();
      const tread: Tread = await startTread({
        database, config: exampleConfig(), clock: new ManualClock(new Date(START)), tickSeconds: 0, http: { host: '127.0.0.1', port: 0 },
        platforms: (app, router) => [createConsoleAdapter({ app, router, input: term.input, output: term.output, afterLine: async () => { await tread.dispatcher.flush(); term.lineDone(); } })],
      });
      return { tread, term };
    };
    afterAll(async () => {
      rmSync(dir, { recursive: true, force: true });
      await pg?.drop();
    });

    it('a card posted after the restart is recorded and updated in place when its incident changes', async () => {
      const first = await start();
      expect(await first.term.say('/incident Before the restart')).toContain('INC-1 · P3 · new · Before the restart');
      expect(await first.term.say('/incident assign INC-1 bob')).toContain('↻ INC-1');
      await first.tread.stop();

      const second = await start();
      try {
        expect(await second.term.say('/incident After the restart')).toContain('INC-2 · P3 · new · After the restart');
        const cards = await second.tread.app.db.select().from(schema.chatMessages).where(eq(schema.chatMessages.subject, 'INC-2'));
        expect(cards.filter((c) => c.platform === 'console')).toHaveLength(1);
        const ids = (await second.tread.app.db.select({ id: schema.chatMessages.messageId }).from(schema.chatMessages)).map((r) => r.id);
        expect(new Set(ids).size).toBe(ids.length);
        const acked = await second.term.say('1');
        expect(acked).toContain('INC-2 acknowledged by Alice Chen');
        expect(acked).toContain('tread> ↻ INC-2 · P3 · acknowledged · After the restart');
      } finally {
        await second.tread.stop();
      }
    }, 120_000); // two starts on a PGlite data directory on a loaded 2-core machine
  });
}
