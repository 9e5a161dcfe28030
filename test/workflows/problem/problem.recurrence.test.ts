/**
 * Recurring incidents on a seeded history with the controllable clock: the daily timer proposes a problem for one
 * service's similar incidents within the window (not older ones, not other services, not those linked to a problem);
 * "Dismiss" keeps that set from being proposed again, a grown set is proposed again, and "Open problem" opens it.
 * PGlite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { clusters, similarity } from '../../../src/workflows/problem/problem.recurrence.js';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import { DAY, HOUR, lastProblemId, lastProposalId, latestButtons, latestCard, linksOf, openIncident, problemRow, replyText, startProblemTread, type ProblemTestTread } from './problem.fakes.js';

describe('similar titles', () => {
  it('Jaccard similarity of word sets, and groups per service joined through each other', () => {
    expect(similarity(new Set(['a', 'b', 'c']), new Set(['b', 'c', 'd']))).toBe(0.5);
    expect(similarity(new Set(), new Set(['a']))).toBe(0);
    const view = (id: number, service: string) => ({ id, subject: `INC-${id}`, title: '', description: null, service, state: 'new' as const, holdReason: null, priority: 3, assignee: null, createdAt: '', resolvedAt: null });
    const words = [['a', 'b'], ['a', 'b', 'c'], ['c', 'd'], ['a', 'b'], ['x']].map((w) => new Set(w));
    // 1~2 (2/3), 2~3 (1/4, no), 1~4 same words but another service; 5 alone
    expect(clusters([view(1, 's'), view(2, 's'), view(3, 's'), view(4, 't'), view(5, 's')], words, 2, 0.5).map((c) => [c.service, c.incidents.map((i) => i.id)])).toEqual([['s', [1, 2]]]);
  });
});

for (const driver of drivers) {
  describe(`recurring incidents (${driver})`, () => {
    let t: ProblemTestTread;
    treadPerFile(driver, (database) => startProblemTread(database), (s) => { t = s; });

    it('the daily check proposes, Dismiss holds for that set, a grown set comes back, Open problem opens it', async () => {
      // ten days ago: an old one, outside the 7-day window by the time the check runs
      const old = await openIncident(t, 'Checkout 502 errors after deploy service:checkout');
      await t.advance(8 * DAY);
      const a = await openIncident(t, 'Checkout 502 errors after deploy service:checkout');
      await t.advance(HOUR);
      const noise = await openIncident(t, 'Checkout is slow for customers in Spain service:checkout');
      const elsewhere = await openIncident(t, 'Payments 502 errors after deploy service:payments');
      await t.advance(DAY);
      const b = await openIncident(t, 'Checkout returns 502 errors service:checkout');
      await t.advance(DAY);
      const c = await openIncident(t, '502 errors on checkout after the deploy service:checkout');
      // linked to a problem: not recurring any more
      const linked = await openIncident(t, 'Checkout 502 errors after deploy again service:checkout');
      await t.command('bob', '/problem new Deploy pipeline flaky service:checkout');
      await t.command('bob', `/problem link PRB-${await lastProblemId(t)} INC-${linked}`);
      expect(await lastProposalId(t)).toBe(0);

      await t.advance(DAY); // the daily check runs
      const rcr = await lastProposalId(t);
      expect(rcr).toBeGreaterThan(0);
      const card = latestCard(t, `RCR-${rcr}`);
      expect(card).toContain('Recurring incidents on checkout: 3 with similar titles in 7d');
      for (const id of [a, b, c]) expect(card).toContain(`INC-${id} · `);
      for (const id of [old, noise, elsewhere, linked]) expect(card).not.toContain(`INC-${id} · `);
      expect(latestButtons(t, `RCR-${rcr}`)).toEqual([
        { actionId: 'problem.recurring.open', label: 'Open problem', value: `RCR-${rcr}` },
        { actionId: 'problem.recurring.dismiss', label: 'Dismiss', value: `RCR-${rcr}` },
      ]);
      // /problem recurring shows what waits, to responders only
      expect(replyText(await t.command('dave', '/problem recurring'))).toMatch(/may not look for recurring incidents/);
      expect(replyText(await t.command('bob', '/problem recurring'))).toContain(`*RCR-${rcr}* · Recurring incidents on checkout`);

      const dismissed = await t.press('bob', 'problem.recurring.dismiss', `RCR-${rcr}`);
      expect(replyText(dismissed)).toContain('Dismissed by Bob Okafor: this set is not proposed again.');
      expect(latestButtons(t, `RCR-${rcr}`)).toEqual([]);
      expect(replyText(await t.press('bob', 'problem.recurring.open', `RCR-${rcr}`))).toBe(`RCR-${rcr} was dismissed already.`);
      await t.advance(DAY);
      expect(await lastProposalId(t)).toBe(rcr);
      expect(replyText(await t.command('bob', '/problem recurring'))).toBe('No recurring incidents: no service has 3 incidents with similar titles within 7d that no problem covers.');

      // it happens again: the grown set is proposed again, and opened as a problem from its incidents
      const d = await openIncident(t, 'Checkout 502 errors after deploy service:checkout');
      await t.advance(DAY);
      const again = await lastProposalId(t);
      expect(again).toBeGreaterThan(rcr);
      expect(latestCard(t, `RCR-${again}`)).toContain('Recurring incidents on checkout: 4 with similar titles in 7d');
      const opened = await t.press('alice', 'problem.recurring.open', `RCR-${again}`);
      const prb = await lastProblemId(t);
      expect(replyText(opened)).toContain(`Opened as PRB-${prb} by Alice Chen.`);
      expect(await linksOf(t, prb)).toEqual([a, b, c, d]);
      expect(await problemRow(t, prb)).toMatchObject({ title: 'Checkout 502 errors after deploy', service: 'checkout', reporter: 'alice' });
      await t.advance(DAY);
      expect(await lastProposalId(t)).toBe(again);
    });
  });
}
