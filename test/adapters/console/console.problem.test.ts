/**
 * Problem management in the terminal: incidents → a problem from them → root cause → the workaround on the incidents'
 * cards → a known error → a new similar incident's card shows the workaround → its number presses "Workaround worked";
 * the problem card's numbered buttons open the fix, resolve and duplicate forms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAdapter } from '../../../adapters/console/index.js';
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { exampleConfig, START } from '../../workflows/request/request.fakes.js';
import { linksOf } from '../../workflows/problem/problem.fakes.js';
import { Terminal } from './terminal.js';

for (const driver of drivers) {
  describe(`problems in the console (${driver})`, () => {
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

    it('incidents → problem → workaround on their cards → known error → the hint on a new incident → its number says it worked', async () => {
      await term.say('/as alice');
      await term.say('/incident Checkout 502 errors after deploy service:checkout');
      await term.say('/incident Checkout returns 502 after deploy service:checkout');
      await term.say('/as bob');
      const opened = await term.say('/problem from INC-1 INC-2');
      expect(opened).toContain('tread> PRB-1 · P3 · new · Checkout 502 errors after deploy');
      expect(opened).toContain('tread> PRB-1 opened from INC-1, INC-2: Checkout 502 errors after deploy');
      expect(opened).toContain('tread> ↻ INC-1 · P3 · new · Checkout 502 errors after deploy');
      await term.say('/problem rca PRB-1 The connection pool runs dry while pods restart');
      const wa = await term.say('/problem workaround PRB-1 Restart the checkout pods one at a time');
      expect(wa).toContain('tread> PRB-1 workaround from Bob Okafor: Restart the checkout pods one at a time');
      expect(wa).toContain('tread> ↻ INC-2 · P3 · new · Checkout returns 502 after deploy');
      expect(wa).toContain('tread> Bob Okafor noted on INC-2: Workaround from PRB-1 (Checkout 502 errors after deploy): Restart the checkout pods one at a time');
      expect(await term.say('/incident show INC-2')).toContain('Workaround (PRB-1): Restart the checkout pods one at a time');
      expect(await term.say('/problem known-error PRB-1 symptoms:"Checkout answers 502 Bad Gateway during deploys"')).toContain('tread> Published KE-1 · Checkout 502 errors after deploy');

      await term.say('/as alice');
      const hinted = await term.say('/incident Checkout 502 Bad Gateway during deploy service:checkout');
      expect(hinted).toContain('tread> ↻ INC-3 · P3 · new · Checkout 502 Bad Gateway during deploy\n       [1] Acknowledge  [2] Set priority  [3] Assign to me  [4] Resolve  [5] Workaround worked  [6] Not related');
      expect(await term.say('/incident show INC-3')).toContain('Known error KE-1 may match (Checkout 502 errors after deploy) — workaround: Restart the checkout pods one at a time');
      await term.say('/as dave');
      const worked = await term.say('5');
      expect(worked).toContain('tread> Thanks: the workaround of KE-1 worked for INC-3; INC-3 is linked to PRB-1.');
      expect(worked).toContain('tread> ↻ INC-3 · P3 · new · Checkout 502 Bad Gateway during deploy\n       [1] Acknowledge  [2] Set priority  [3] Assign to me  [4] Resolve\n');
      expect(await term.say('/incident show INC-3')).toContain('Known error KE-1: its workaround worked (Dave Müller)');
      expect(await linksOf({ db: tread.app.db } as never, 1)).toEqual([1, 2, 3]);
    });

    it("the problem card's buttons open forms in the terminal: fix, resolve; a new problem's Duplicate", async () => {
      await term.say('/as bob');
      expect(await term.say('/problem show PRB-1')).toContain('[1] Fix  [2] Workaround  [3] Root cause  [4] Resolve  [5] Assign to me');
      /** Says the lines, and expects every one of `shown` in what the terminal printed. */
      const sayShows = async (lines: string[], shown: string[]) => {
        const out = await term.say(...lines);
        for (const s of shown) expect(out).toContain(s);
      };
      await sayShows(['1', 'CHG-4711', 'Drain connections before pods restart'], [
        'tread> Fix of PRB-1 (press Enter to skip optional fields, /cancel to leave)\n       Change reference: CHG-4711\n       What the fix does: Drain connections before pods restart',
        'tread> ↻ PRB-1 · P3 · fix in progress · Checkout 502 errors after deploy\n       [1] Resolve  [2] Workaround  [3] Root cause  [4] Fix  [5] Assign to me',
        'tread> PRB-1 fix in progress with change CHG-4711 (Bob Okafor): Drain connections before pods restart',
      ]);
      // Resolve: the resolution is one of the codes (Enter keeps fix_applied), the notes are required
      await sayShows(['1', '', '', 'Pods now drain their connections first'], [
        '       Resolution [1=fix_applied 2=risk_accepted] (fix_applied): \n       Resolution notes: \n       Resolution notes is required.\n       Resolution notes: Pods now drain their connections first',
        'tread> PRB-1 resolved (fix applied) by Bob Okafor: Pods now drain their connections first',
        'tread> ↻ PRB-1 · P3 · resolved · Checkout 502 errors after deploy\n       [1] Close',
      ]);

      await sayShows(['/problem new Checkout 502 on every deploy service:checkout'], [
        'tread> PRB-2 · P3 · new · Checkout 502 on every deploy\n',
        '       [1] Assess  [2] Assign to me  [3] Root cause  [4] Workaround  [5] Duplicate',
      ]);
      await sayShows(['5', 'PRB-1'], [
        'tread> PRB-2 duplicates… (press Enter to skip optional fields, /cancel to leave)\n       Original problem: PRB-1\n',
        'tread> PRB-2 is a duplicate of PRB-1 (Bob Okafor)',
        'tread> ↻ PRB-2 · P3 · resolved · Checkout 502 on every deploy\n       [1] Close',
      ]);
      expect(await term.say('/problem show PRB-2')).toContain('Resolution: Duplicate of PRB-1');
    });
  });
}
