/**
 * Problems end to end on the example organisation through the router (console, recording port, manual clock): incidents →
 * a problem from them → root cause → the workaround communicated to the linked incidents (their pages stop) → a known
 * error → a new similar incident shows the workaround on its card → "Workaround worked" links it → fix → resolved with
 * fix_applied resolves the incidents on hold awaiting the problem → closed. PGlite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import {
  escalationsOf, hintsOf, incidentRow, lastKnownErrorId, lastProblemId, latestButtons, latestCard, linksOf, MINUTE, openIncident, problemRow, replyText,
  startProblemTread, timelineTexts, type ProblemTestTread,
} from './problem.fakes.js';

for (const driver of drivers) {
  describe(`problems end to end (${driver})`, () => {
    let t: ProblemTestTread;
    treadPerFile(driver, (database) => startProblemTread(database), (s) => { t = s; });

    it('the whole path: incidents → problem → root cause → workaround → known error → hint on a new incident → worked → fix → resolved', async () => {
      const inc1 = await openIncident(t, 'Checkout 502 errors after deploy service:checkout');
      await t.command('alice', `/incident edit INC-${inc1} description:"Every deploy of checkout-api gives 502s for five minutes"`);
      const inc2 = await openIncident(t, 'Checkout returns 502 after the deploy service:checkout');
      const other = await openIncident(t, 'Payments slow for card refunds service:payments');
      // checkout pages its on-call
      expect((await escalationsOf(t, `INC-${inc1}`)).map((e) => e.state)).toEqual(['active']);

      // a requester may read but not open problems
      expect(replyText(await t.command('dave', `/problem from INC-${inc1}`))).toMatch(/may not open problems/);

      t.clock.advance(5 * MINUTE);
      const opened = await t.command('bob', `/problem from INC-${inc1} INC-${inc2}`);
      const prb = await lastProblemId(t);
      const P = `PRB-${prb}`;
      expect(replyText(opened)).toBe(`${P} opened from INC-${inc1}, INC-${inc2}: Checkout 502 errors after deploy`);
      expect(await problemRow(t, prb)).toMatchObject({ state: 'new', service: 'checkout', reporter: 'bob', statement: `INC-${inc1}: Every deploy of checkout-api gives 502s for five minutes`, priority: 3 });
      expect(await linksOf(t, prb)).toEqual([inc1, inc2]);
      // the incidents' key timeline entries are copied onto the problem's timeline
      const history = await timelineTexts(t, P);
      expect(history[0]).toMatch(new RegExp(`^Opened by Bob Okafor: Checkout 502 errors after deploy \\(P3\\) from INC-${inc1}, INC-${inc2}$`));
      expect(history).toContain(`INC-${inc1}: Opened by Alice Chen: Checkout 502 errors after deploy (P3)`);
      // the problem's card is posted, and the incidents' cards show the problem
      expect(latestCard(t, P)).toContain(`${P} · P3 · new · Checkout 502 errors after deploy`);
      expect(latestCard(t, P)).toContain(`Incidents (2): INC-${inc1} (new), INC-${inc2} (new)`);
      expect(latestCard(t, `INC-${inc1}`)).toContain(`Problem ${P}* · new · Checkout 502 errors after deploy`);

      // root cause: confirmed and in analysis; the incidents' cards follow the state
      const rca = await t.command('bob', `/problem rca ${P} The connection pool is exhausted while pods restart`);
      expect(replyText(rca)).toBe(`${P} root cause found by Bob Okafor: The connection pool is exhausted while pods restart`);
      expect(await problemRow(t, prb)).toMatchObject({ state: 'root_cause_analysis', confirmedBy: 'bob', rootCauseBy: 'bob' });
      expect(latestCard(t, `INC-${inc2}`)).toContain(`Problem ${P}* · root cause analysis`);

      // the workaround goes to every open linked incident (card and thread) and stops their pages
      const wa = await t.command('bob', `/problem workaround ${P} Restart the checkout pods one at a time`);
      expect(replyText(wa)).toBe(`${P} workaround from Bob Okafor: Restart the checkout pods one at a time`);
      for (const id of [inc1, inc2]) {
        expect(latestCard(t, `INC-${id}`)).toContain(`Workaround (${P}):* Restart the checkout pods one at a time`);
        expect(await timelineTexts(t, `INC-${id}`)).toContain(`Bob Okafor noted on INC-${id}: Workaround from ${P} (Checkout 502 errors after deploy): Restart the checkout pods one at a time`);
        expect((await escalationsOf(t, `INC-${id}`)).map((e) => e.state)).toEqual(['workaround']);
      }
      // an incident that is not linked keeps paging
      expect((await escalationsOf(t, `INC-${other}`)).map((e) => e.state)).toEqual([]);

      // the known error, published from the problem
      const ke = await t.command('bob', `/problem known-error ${P} symptoms:"Checkout answers 502 Bad Gateway during deploys" codes:HTTP-502`);
      const keId = await lastKnownErrorId(t);
      expect(replyText(ke)).toContain(`Published KE-${keId} · Checkout 502 errors after deploy`);
      expect(replyText(ke)).toContain('Workaround: Restart the checkout pods one at a time');

      // a new similar incident: after its commit the KEDB is searched and the card shows the hint with two buttons
      const inc4 = await openIncident(t, 'Checkout 502 Bad Gateway during deploy service:checkout', 'alice');
      const hints = await hintsOf(t, inc4);
      expect(hints.map((h) => h.knownErrorId)).toEqual([keId]);
      expect(latestCard(t, `INC-${inc4}`)).toContain(`Known error KE-${keId} may match* (Checkout 502 errors after deploy) — workaround: Restart the checkout pods one at a time`);
      expect(latestButtons(t, `INC-${inc4}`).filter((b) => b.actionId.startsWith('problem.'))).toEqual([
        { actionId: 'problem.kedb.worked', label: 'Workaround worked', value: `INC-${inc4} KE-${keId}` },
        { actionId: 'problem.kedb.unrelated', label: 'Not related', value: `INC-${inc4} KE-${keId}` },
      ]);

      // "Workaround worked" (anyone may say so): the incident is linked to the problem and its card says so
      const worked = await t.press('dave', 'problem.kedb.worked', `INC-${inc4} KE-${keId}`);
      expect(replyText(worked)).toBe(`Thanks: the workaround of KE-${keId} worked for INC-${inc4}; INC-${inc4} is linked to ${P}.`);
      expect(await linksOf(t, prb)).toEqual([inc1, inc2, inc4]);
      expect((await hintsOf(t, inc4))[0]).toMatchObject({ feedback: 'worked', feedbackBy: 'dave' });
      expect(latestCard(t, `INC-${inc4}`)).toContain(`Known error KE-${keId}*: its workaround worked (Dave Müller)`);
      expect(latestButtons(t, `INC-${inc4}`).filter((b) => b.actionId.startsWith('problem.'))).toEqual([]);

      // INC-2 waits for the problem; a fix applied resolves it, names the problem and tells its assignee
      await t.command('alice', `/incident ack INC-${inc2}`);
      await t.command('alice', `/incident hold INC-${inc2} problem waiting for ${P}`);
      expect(replyText(await t.command('bob', `/problem resolve ${P} code:fix_applied pool raised`))).toMatch(/cannot be resolved with fix_applied\. Start the fix first/);
      expect(replyText(await t.command('bob', `/problem fix ${P} CHG-1234 Raise the pool size and drain pods before restart`))).toBe(`${P} fix in progress with change CHG-1234 (Bob Okafor): Raise the pool size and drain pods before restart`);
      const resolved = await t.command('bob', `/problem resolve ${P} code:fix_applied CHG-1234 is deployed`);
      expect(replyText(resolved)).toBe(`${P} resolved (fix applied) by Bob Okafor: CHG-1234 is deployed`);
      expect(await incidentRow(t, inc2)).toMatchObject({ state: 'resolved', resolutionNotes: `Fixed by problem ${P} (change CHG-1234): CHG-1234 is deployed` });
      expect(t.port.dms('alice').map((d) => d.message?.text)).toContain(`INC-${inc2} (Checkout returns 502 after the deploy) was resolved: problem ${P} is fixed with change CHG-1234.`);
      // an incident that was not waiting for the problem stays as it was
      expect((await incidentRow(t, inc1)).state).toBe('new');
      expect(await problemRow(t, prb)).toMatchObject({ state: 'resolved', resolution: 'fix_applied', resolvedBy: 'bob', changeRef: 'CHG-1234', fixedBy: 'bob' });

      expect(replyText(await t.command('bob', `/problem close ${P}`))).toBe(`${P} closed by Bob Okafor`);
      expect(replyText(await t.command('bob', `/problem note ${P} one more thing`))).toMatch(/^A closed problem cannot be noted on/);
    });
  });
}
