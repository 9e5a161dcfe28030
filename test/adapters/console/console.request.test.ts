/**
 * A request in the terminal, the whole path: the catalog, its form field by field, the approver's DM card, the tasks
 * in the team channel claimed and done in order, and the requester's one card edited until it shows fulfilled.
 */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.js';
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { exampleConfig, requestRow, START } from '../../workflows/request/request.fakes.js';

/** A terminal on PassThrough streams: write lines, wait until tread has answered them, read what it printed. */
class Terminal {
  readonly input = new PassThrough();
  readonly output = new PassThrough();
  text = '';
  private handled = 0;
  private waiters: (() => void)[] = [];

  constructor() {
    this.output.on('data', (d: Buffer) => { this.text += d.toString('utf8'); });
  }

  lineDone(): void {
    this.handled++;
    for (const w of this.waiters.splice(0)) w();
  }

  async say(...lines: string[]): Promise<string> {
    const from = this.text.length;
    const target = this.handled + 1;
    this.input.write(lines.map((l) => `${l}\n`).join(''));
    const deadline = Date.now() + 20_000;
    while (this.handled < target) {
      if (Date.now() > deadline) throw new Error(`no answer to ${JSON.stringify(lines)}; printed so far:\n${this.text.slice(from)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 200); });
    }
    return this.text.slice(from);
  }
}

for (const driver of drivers) {
  describe(`a request in the console (${driver})`, () => {
    let database: Database;
    let tread: Tread;
    const term = new Terminal();

    beforeAll(async () => {
      database = await openTestDatabase(driver);
      tread = await startTread({
        database, config: exampleConfig(), clock: new ManualClock(new Date(START)), tickSeconds: 0,
        platforms: (app, router) => [createConsoleAdapter({
          app, router, input: term.input, output: term.output,
          afterLine: async () => { await tread.scheduler.tick(); term.lineDone(); },
        })],
      });
    });
    afterAll(async () => {
      await tread?.stop({ closeDatabase: false });
      await database?.close();
    });

    it('catalog → form → approval by another person on a DM card → tasks claimed and done → the card shows fulfilled, edited in place', async () => {
      await term.say('/as dave');
      const catalog = await term.say('/request');
      expect(catalog).toContain('tread> Service catalog');
      expect(catalog).toContain('[1] New laptop  [2] Software licence  [3] New starter  [4] Something else');

      const submitted = await term.say('1', '1', '', 'the hinge broke');
      expect(submitted).toContain('tread> Request: New laptop (press Enter to skip optional fields, /cancel to leave)');
      expect(submitted).toContain('       Model [1=14-inch standard 2=16-inch developer]: 1');
      expect(submitted).toContain('       Needed by (optional) (YYYY-MM-DD): ');
      expect(submitted).toContain('       Why do you need it?: the hinge broke');
      expect(submitted).toContain('tread> REQ-1 submitted: New laptop. It waits for approval now; your card in a direct message shows where it stands.');
      expect(submitted).toContain('tread> (to Carol Diaz) Approval needed · REQ-1 · New laptop');
      expect(submitted).toContain('tread> (to Dave Müller) REQ-1 · New laptop · awaiting approval');
      expect(submitted).toContain('Waiting for approval from Carol Diaz since 10:00 CET.');
      expect(await requestRow({ db: tread.app.db } as never, 1)).toMatchObject({ state: 'awaiting_approval', fields: { model: '14-inch standard', reason: 'the hinge broke' } });

      await term.say('/as carol');
      const approved = await term.say('1');
      expect(approved).toContain('tread> ↻ REQ-1 · New laptop · approved');
      expect(approved).toContain('tread> TASK-1 · Order the laptop · open');
      expect(approved).toContain('[1] Claim  [2] Done  [3] Can\'t complete');
      expect(approved).toContain('tread> ↻ REQ-1 · New laptop · in fulfilment');

      await term.say('/as bob');
      expect(await term.say('1')).toContain('tread> ↻ TASK-1 · Order the laptop · claimed\n       [1] Done  [2] Can\'t complete');
      const first = await term.say('1');
      expect(first).toContain('tread> ↻ TASK-1 · Order the laptop · done');
      expect(first).toContain('tread> TASK-2 · Set up and enrol · open');
      expect(await term.say('2')).toContain('tread> TASK-3 · Hand over · open');
      const last = await term.say('2');
      expect(last).toContain('tread> ↻ TASK-3 · Hand over · done');
      expect(last).toContain('tread> ↻ REQ-1 · New laptop · fulfilled');
      expect(last).toContain('tread> (to Dave Müller) ✓ REQ-1 (New laptop) is fulfilled.');
      // the requester's card was sent once and edited from then on
      expect(term.text.split('(to Dave Müller) REQ-1 · New laptop').length - 1).toBe(1);
      expect(term.text.split('↻ REQ-1 · New laptop').length - 1).toBeGreaterThanOrEqual(5);
      expect((await requestRow({ db: tread.app.db } as never, 1)).state).toBe('fulfilled');
    });

    it('a typed request with a bad field asks again for that field, showing what was wrong', async () => {
      await term.say('/as dave');
      const out = await term.say('/request laptop model:"17-inch" reason: it is slow', '2', '', '');
      expect(out).toContain('       pick one of 14-inch standard, 16-inch developer\n       Model [1=14-inch standard 2=16-inch developer] (17-inch): 2');
      expect(out).toContain('       Why do you need it? (it is slow): ');
      expect(out).toContain('tread> REQ-2 submitted: New laptop.');
      expect(await requestRow({ db: tread.app.db } as never, 2)).toMatchObject({ fields: { model: '16-inch developer', reason: 'it is slow' } });
    });

    it('/ask answers from the example knowledge folder', async () => {
      const out = await term.say('/ask how do I reset my password');
      expect(out).toMatch(/tread> Answers for “how do I reset my password”\n\s+KB-\d+ · Reset your password\n\s+Passwords expire every 90 days/);
      expect(out).toContain("[1] Didn't help — open a request");
    });
  });
}
