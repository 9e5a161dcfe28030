/**
 * Problem management through Teams, end to end: activities into tread's real HTTP server (a team channel, personal chats,
 * Action.Execute presses), posts and in-place updates out to the fake connector. Incidents in the service's channel → a
 * problem from them → root cause → the workaround through the card's form, on the incidents' cards (their pages stop) →
 * a known error → a new similar incident's card shows the workaround → "Workaround worked" links it. Then the problem
 * card's Fix, Resolve and Duplicate buttons and their form cards.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { drivers } from '../../helpers/db.js';
import { adaptiveCardProblems } from './adaptive-card-schema.js';
import { cardOf } from './fake-connector.js';
import { actionOf, teamsTreadPerFile, type TeamsChannel, type TeamsTread } from './teams-tread.js';

const CHANNEL = '19:checkout@thread.tacv2';
const CONFIG = `
organisation: Teams problems
people:
  - { id: alice, name: Alice Ops, teams: aad-alice, roles: [responder] }
  - { id: bob, name: Bob Fixer, teams: aad-bob, roles: [responder] }
  - { id: dave, name: Dave Asker, teams: aad-dave }
services:
  - { name: checkout, owners: [alice], teams: { team: group-checkout, channel: "${CHANNEL}" }, escalationPolicy: checkout-oncall }
escalationPolicies:
  - { name: checkout-oncall, steps: [{ person: alice, wait: 10m }] }
`;

const PEOPLE = {
  alice: { id: '29:alice', name: 'Alice Ops', aadObjectId: 'aad-alice' },
  bob: { id: '29:bob', name: 'Bob Fixer', aadObjectId: 'aad-bob' },
  dave: { id: '29:dave', name: 'Dave Asker', aadObjectId: 'aad-dave' },
};
const CHECKOUT: TeamsChannel = { id: CHANNEL, name: 'Checkout', aadGroupId: 'group-checkout' };

for (const driver of drivers) {
  describe(`problems through Teams (${driver})`, () => {
    let t: TeamsTread;
    teamsTreadPerFile(driver, { config: parseOrganisation(CONFIG, 'test', {}), people: PEOPLE }, (started) => { t = started; });
    const post = (activity: Record<string, unknown>) => t.post(activity);
    const inChannel = (who: string, text: string) => t.inChannel(who, CHECKOUT, text);
    const press = (who: string, verb: string, data: Record<string, unknown>, replyToId: string) => t.press(who, verb, data, replyToId, CHECKOUT);
    /** The first post of a card in the channel whose card mentions `title`. */
    const cardPost = (title: string) => t.cardPosts(CHANNEL, title)[0];
    const latest = (posted: Parameters<TeamsTread['latest']>[0]) => t.latest(posted);

    it('incidents → problem → root cause → workaround (card form) on the incidents → known error → hint on a new incident → worked', async () => {
      await post(inChannel('alice', 'incident Checkout 502 errors after deploy service:checkout'));
      await post(inChannel('alice', 'incident Checkout returns 502 after deploy service:checkout'));
      const inc1 = cardPost('INC-1 · P3')!;
      const inc2 = cardPost('INC-2 · P3')!;
      expect(inc1).toBeDefined();
      expect(inc2).toBeDefined();

      await post(inChannel('bob', 'problem from INC-1 INC-2'));
      const prb = cardPost('PRB-1 · P3 · new')!;
      expect(prb).toBeDefined();
      expect(adaptiveCardProblems(cardOf(prb))).toEqual([]);
      expect(JSON.stringify(latest(inc1))).toContain('Problem PRB-1');
      await post(inChannel('bob', 'problem rca PRB-1 The connection pool runs dry while pods restart'));

      // the Workaround button answers with a form card; submitting it communicates the workaround
      const form = await post(press('bob', 'problem.workaround.form', actionOf(latest(prb), 'problem.workaround.form').data, prb.answeredId!));
      expect(form.body.type).toBe('application/vnd.microsoft.card.adaptive');
      const submit = actionOf(form.body.value, 'problem.workaround.submit');
      const done = await post(press('bob', 'problem.workaround.submit', { ...submit.data, workaround: 'Restart the checkout pods one at a time' }, prb.answeredId!));
      expect(JSON.stringify(done.body.value)).toContain('Restart the checkout pods one at a time');
      for (const inc of [inc1, inc2]) {
        expect(JSON.stringify(latest(inc))).toContain('Workaround (PRB-1):');
        expect(adaptiveCardProblems(latest(inc))).toEqual([]);
      }
      const paging = await t.database.rows<{ subject: string; state: string }>(sql`select subject, state from escalations order by subject`);
      expect(paging).toEqual([{ subject: 'INC-1', state: 'workaround' }, { subject: 'INC-2', state: 'workaround' }]);

      await post(inChannel('bob', 'problem known-error PRB-1 symptoms:"Checkout answers 502 Bad Gateway during deploys"'));
      await post(inChannel('alice', 'incident Checkout 502 Bad Gateway during deploy service:checkout'));
      const inc3 = cardPost('INC-3 · P3')!;
      const hinted = latest(inc3);
      expect(JSON.stringify(hinted)).toContain('Known error KE-1 may match');
      expect(adaptiveCardProblems(hinted)).toEqual([]);
      const worked = actionOf(hinted, 'problem.kedb.worked');
      expect(worked).toMatchObject({ type: 'Action.Execute', title: 'Workaround worked', data: { value: 'INC-3 KE-1' } });
      await post(press('dave', 'problem.kedb.worked', worked.data, inc3.answeredId!));
      expect(JSON.stringify(latest(inc3))).toContain('its workaround worked (Dave Asker)');
      const links = await t.database.rows<{ incident_id: number; via: string }>(sql`select incident_id, via from problem_incidents order by incident_id`);
      expect(links.map((l) => [Number(l.incident_id), l.via])).toEqual([[1, 'from'], [2, 'from'], [3, 'feedback']]);
      const [row] = await t.database.rows<{ source: string; workaround_by: string }>(sql`select source, workaround_by from problems where id = 1`);
      expect(row).toEqual({ source: 'teams', workaround_by: 'bob' });
    });

    it("the problem card's Fix and Resolve buttons answer with form cards (empty fields named on the form); a new problem's Duplicate", async () => {
      const prb = cardPost('PRB-1 · P3')!;
      const verbs = (card: any) => [...(card.actions ?? []), ...(card.body ?? []).flatMap((e: any) => (e.type === 'ActionSet' ? e.actions : []))].map((a: any) => a.verb);
      expect(verbs(latest(prb))).toEqual(['problem.fix.form', 'problem.workaround.form', 'problem.rca.form', 'problem.resolve.form', 'problem.assign_me']);

      const fixForm = await post(press('bob', 'problem.fix.form', actionOf(latest(prb), 'problem.fix.form').data, prb.answeredId!));
      expect(adaptiveCardProblems(fixForm.body.value)).toEqual([]);
      const fixSubmit = actionOf(fixForm.body.value, 'problem.fix.submit');
      expect(fixSubmit.title).toBe('Start fix');
      const missing = await post(press('bob', 'problem.fix.submit', { ...fixSubmit.data, changeRef: 'CHG-4711', notes: '' }, prb.answeredId!));
      expect(JSON.stringify(missing.body.value)).toContain('Say what the fix does.');
      expect((await t.database.rows<{ state: string }>(sql`select state from problems where id = 1`))[0]!.state).toBe('root_cause_analysis');
      const fixed = await post(press('bob', 'problem.fix.submit', { ...fixSubmit.data, changeRef: 'CHG-4711', notes: 'Drain connections before pods restart' }, prb.answeredId!));
      expect(JSON.stringify(fixed.body.value)).toContain('PRB-1 · P3 · fix in progress');
      expect(verbs(latest(prb))[0]).toBe('problem.resolve.form');

      const resolveForm = await post(press('bob', 'problem.resolve.form', actionOf(latest(prb), 'problem.resolve.form').data, prb.answeredId!));
      const choice = resolveForm.body.value.body.find((e: any) => e.id === 'code');
      expect(choice).toMatchObject({ type: 'Input.ChoiceSet', value: 'fix_applied' });
      expect(choice.choices.map((c: any) => c.value)).toEqual(['fix_applied', 'risk_accepted']);
      const resolveSubmit = actionOf(resolveForm.body.value, 'problem.resolve.submit');
      await post(press('bob', 'problem.resolve.submit', { ...resolveSubmit.data, code: 'fix_applied', notes: 'Pods now drain their connections first' }, prb.answeredId!));
      expect(JSON.stringify(latest(prb))).toContain('[fix_applied] Pods now drain their connections first');
      // (Close asks for confirmation first: its Action.Execute sits in a ShowCard)
      expect(JSON.stringify(latest(prb))).toContain('"verb":"problem.close"');
      expect(verbs(latest(prb)).filter(Boolean)).toEqual([]);

      await post(inChannel('bob', 'problem new Checkout 502 on every deploy service:checkout'));
      const second = cardPost('PRB-2 · P3 · new')!;
      const dupForm = await post(press('bob', 'problem.duplicate.form', actionOf(latest(second), 'problem.duplicate.form').data, second.answeredId!));
      const dupSubmit = actionOf(dupForm.body.value, 'problem.duplicate.submit');
      await post(press('bob', 'problem.duplicate.submit', { ...dupSubmit.data, of: 'PRB-1' }, second.answeredId!));
      expect(JSON.stringify(latest(second))).toContain('Duplicate of PRB-1');
      const rows = await t.database.rows<{ id: number; state: string; resolution: string; change_ref: string | null }>(sql`select id, state, resolution, change_ref from problems order by id`);
      expect(rows.map((r) => [Number(r.id), r.state, r.resolution, r.change_ref])).toEqual([[1, 'resolved', 'fix_applied', 'CHG-4711'], [2, 'resolved', 'duplicate', null]]);
    });
  });
}
