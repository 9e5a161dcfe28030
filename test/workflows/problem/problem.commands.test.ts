/**
 * Problem commands beyond the main path: a duplicate's links move to the original, link and unlink, assign, notes,
 * priority with a note, what is refused and why, the problem's id left out in its own conversation; and the REST surface
 * (list filters, create, read with links, timeline and known error, actions, 400/403/404/409). PGlite and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { drivers } from '../../helpers/db.js';
import { treadPerFile } from '../../helpers/tread.js';
import {
  lastProblemId, latestButtons, latestCard, linksOf, openIncident, problemRow, replyText, startProblemTread, timelineTexts, type ProblemTestTread,
} from './problem.fakes.js';

for (const driver of drivers) {
  describe(`problem commands and REST (${driver})`, () => {
    let t: ProblemTestTread;
    treadPerFile(driver, (database) => startProblemTread(database, { http: true }), (s) => { t = s; });

    it('a duplicate is resolved as such and its incidents move to the original', async () => {
      const a = await openIncident(t, 'Search returns nothing service:checkout');
      const b = await openIncident(t, 'Search is empty for every query service:checkout');
      const c = await openIncident(t, 'Search index stale service:checkout');
      await t.command('bob', `/problem from INC-${a}`);
      const original = await lastProblemId(t);
      await t.command('alice', `/problem from INC-${b} INC-${c} title:"Search broken"`);
      const dup = await lastProblemId(t);
      expect(await linksOf(t, dup)).toEqual([b, c]);
      expect(replyText(await t.command('bob', `/problem duplicate PRB-${dup} PRB-${dup}`))).toBe(`PRB-${dup} cannot be a duplicate of itself.`);
      expect(replyText(await t.command('bob', `/problem duplicate PRB-${dup} PRB-${original}`))).toBe(`PRB-${dup} is a duplicate of PRB-${original} (Bob Okafor)`);
      expect(await problemRow(t, dup)).toMatchObject({ state: 'resolved', resolution: 'duplicate', duplicateOf: original, resolvedBy: 'bob' });
      expect(await linksOf(t, dup)).toEqual([]);
      expect(await linksOf(t, original)).toEqual([a, b, c]);
      expect(await timelineTexts(t, `PRB-${original}`)).toContain(`INC-${b}, INC-${c} moved here from duplicate PRB-${dup}`);
      expect(latestCard(t, `INC-${b}`)).toContain(`Problem PRB-${original}* · new · Search returns nothing`);
      expect(latestCard(t, `PRB-${dup}`)).toContain(`Resolution: Duplicate of PRB-${original}`);
      expect(latestCard(t, `PRB-${original}`)).toContain(`Incidents (3): INC-${a} (new), INC-${b} (new), INC-${c} (new)`);
      // a duplicate takes no links and cannot be the original of another duplicate
      expect(replyText(await t.command('bob', `/problem link PRB-${dup} INC-${a}`))).toBe(`PRB-${dup} is a duplicate of PRB-${original}; link incidents there.`);
      await t.command('bob', '/problem new Another search problem service:checkout');
      expect(replyText(await t.command('bob', `/problem duplicate PRB-${await lastProblemId(t)} PRB-${dup}`))).toBe(`PRB-${dup} is itself a duplicate of PRB-${original}; mark PRB-${await lastProblemId(t)} a duplicate of that one.`);
      // only new or assessing problems are duplicates
      await t.command('bob', `/problem rca PRB-${original} The indexer crashed`);
      await t.command('bob', '/problem new Yet another search problem');
      expect(replyText(await t.command('bob', `/problem duplicate PRB-${original} PRB-${await lastProblemId(t)}`))).toMatch(/cannot be marked a duplicate\. Only a new or assessing problem can be marked a duplicate\./);
    });

    it('the card has a button for every state change: fix, resolve and duplicate open forms that name bad fields', async () => {
      const buttons = (id: number) => latestButtons(t, `PRB-${id}`).map((b) => b.label);
      const inc = await openIncident(t, 'Exports stall at midnight service:checkout');
      await t.command('bob', `/problem from INC-${inc}`);
      const p = await lastProblemId(t);
      expect(buttons(p)).toEqual(['Assess', 'Assign to me', 'Root cause', 'Workaround', 'Duplicate']);
      await t.press('bob', 'problem.assess', `PRB-${p}`);
      expect(buttons(p)).toEqual(['Root cause', 'Workaround', 'Assign to me', 'Duplicate']);
      // before the root cause there is no Fix or Resolve: a stale card's press says what to do first
      expect(replyText(await t.press('bob', 'problem.resolve.form', `PRB-${p}`))).toBe('A problem in assessing cannot be resolved with risk_accepted. Find the root cause first: /problem rca PRB-n <root cause>.');
      await t.press('bob', 'problem.rca.submit', `PRB-${p}`, { rootCause: 'The export job holds a lock on the orders table' });
      expect(buttons(p)).toEqual(['Fix', 'Workaround', 'Root cause', 'Resolve', 'Assign to me']);

      // Fix: a form with the change and what it does; both are required, and both are named when missing
      const fixForm = await t.press('bob', 'problem.fix.form', `PRB-${p}`);
      expect(fixForm).toMatchObject({ kind: 'form', form: { title: `Fix of PRB-${p}`, submit: { actionId: 'problem.fix.submit', label: 'Start fix', value: `PRB-${p}` } } });
      expect(fixForm.kind === 'form' && fixForm.form.inputs?.map((i) => [i.id, i.type, i.required])).toEqual([['changeRef', 'text', true], ['notes', 'multiline', true]]);
      expect(await t.press('bob', 'problem.fix.submit', `PRB-${p}`, { changeRef: ' ', notes: '' })).toMatchObject({
        kind: 'form_errors', errors: { changeRef: 'Name the change, like CHG-1234.', notes: 'Say what the fix does.' },
      });
      expect(await t.press('dave', 'problem.fix.form', `PRB-${p}`)).toMatchObject({ kind: 'ephemeral', message: { text: expect.stringMatching(/may not start the fix of/) } });
      const fixed = await t.press('bob', 'problem.fix.submit', `PRB-${p}`, { changeRef: 'CHG-4711', notes: 'Export in batches of 1000 rows' });
      expect(fixed).toMatchObject({ kind: 'card', notice: { text: `PRB-${p} fix in progress with change CHG-4711 (Bob Okafor): Export in batches of 1000 rows` } });
      expect(await problemRow(t, p)).toMatchObject({ state: 'fix_in_progress', changeRef: 'CHG-4711', fixNotes: 'Export in batches of 1000 rows', fixedBy: 'bob' });
      expect(buttons(p)).toEqual(['Resolve', 'Workaround', 'Root cause', 'Fix', 'Assign to me']);
      // pressed again, the form shows the fix as it is
      const again = await t.press('bob', 'problem.fix.form', `PRB-${p}`);
      expect(again.kind === 'form' && [again.form.inputs?.map((i) => i.initial), again.form.submit?.label]).toEqual([['CHG-4711', 'Export in batches of 1000 rows'], 'Save fix']);

      // Resolve: the codes the state allows, and notes
      const resolveForm = await t.press('bob', 'problem.resolve.form', `PRB-${p}`);
      expect(resolveForm.kind === 'form' && resolveForm.form.inputs?.map((i) => [i.id, i.initial, i.choices?.map((c) => c.value)])).toEqual([['code', 'fix_applied', ['fix_applied', 'risk_accepted']], ['notes', undefined, undefined]]);
      expect(await t.press('bob', 'problem.resolve.submit', `PRB-${p}`, { code: 'duplicate', notes: '' })).toMatchObject({
        kind: 'form_errors', errors: { code: 'Pick one of fix_applied, risk_accepted.', notes: 'Say how it was resolved.' },
      });
      const resolved = await t.press('bob', 'problem.resolve.submit', `PRB-${p}`, { code: 'fix_applied', notes: 'Batched export deployed' });
      expect(resolved).toMatchObject({ kind: 'card', notice: { text: `PRB-${p} resolved (fix applied) by Bob Okafor: Batched export deployed` } });
      expect(await problemRow(t, p)).toMatchObject({ state: 'resolved', resolution: 'fix_applied', resolutionNotes: 'Batched export deployed' });
      expect(buttons(p)).toEqual(['Close']);

      // Duplicate: a new problem names the open problems of its service; the original is typed as PRB-n
      await t.command('bob', '/problem new Exports hang after midnight service:checkout');
      const open = await lastProblemId(t);
      await t.command('bob', '/problem new Nightly export stuck service:checkout');
      const dup = await lastProblemId(t);
      const dupForm = await t.press('bob', 'problem.duplicate.form', `PRB-${dup}`);
      expect(dupForm).toMatchObject({ kind: 'form', form: { submit: { actionId: 'problem.duplicate.submit', value: `PRB-${dup}` } } });
      expect(dupForm.kind === 'form' && dupForm.form.inputs?.[0]).toMatchObject({ id: 'of', required: true, hint: expect.stringContaining(`PRB-${open} (Exports hang after midnight)`) });
      expect(dupForm.kind === 'form' && dupForm.form.inputs?.[0]?.hint).not.toContain(`PRB-${dup} `);
      expect(await t.press('bob', 'problem.duplicate.submit', `PRB-${dup}`, { of: 'the other one' })).toMatchObject({ kind: 'form_errors', errors: { of: 'not a problem id: the other one' } });
      expect(await t.press('bob', 'problem.duplicate.submit', `PRB-${dup}`, { of: `PRB-${dup}` })).toMatchObject({ kind: 'form_errors', errors: { of: 'another problem' } });
      const marked = await t.press('bob', 'problem.duplicate.submit', `PRB-${dup}`, { of: `prb-${p}` });
      expect(marked).toMatchObject({ kind: 'card', notice: { text: `PRB-${dup} is a duplicate of PRB-${p} (Bob Okafor)` } });
      expect(await problemRow(t, dup)).toMatchObject({ state: 'resolved', resolution: 'duplicate', duplicateOf: p });
      expect(latestCard(t, `PRB-${dup}`)).toContain(`Resolution: Duplicate of PRB-${p}`);
    });

    it('link and unlink: one problem per incident; names what is wrong', async () => {
      const x = await openIncident(t, 'Login page slow service:checkout');
      const y = await openIncident(t, 'Login page times out service:checkout');
      await t.command('bob', '/problem new Login slowness service:checkout');
      const p = await lastProblemId(t);
      expect(replyText(await t.command('bob', `/problem link PRB-${p} INC-${x} INC-${y}`))).toBe(`INC-${x}, INC-${y} linked to PRB-${p} by Bob Okafor`);
      expect(replyText(await t.command('bob', `/problem link PRB-${p} INC-${x}`))).toBe(`INC-${x} is linked to PRB-${p} already.`);
      await t.command('bob', '/problem new Another login problem');
      const q = await lastProblemId(t);
      expect(replyText(await t.command('bob', `/problem link PRB-${q} INC-${x}`))).toBe(`INC-${x} is linked to PRB-${p} already; unlink it there first: /problem unlink PRB-${p} INC-${x}`);
      expect(replyText(await t.command('bob', `/problem link PRB-${q} INC-9999`))).toBe('There is no incident INC-9999.');
      expect(replyText(await t.command('bob', `/problem link PRB-${q} banana`))).toBe(`"banana" is not an incident id. Write: /problem link PRB-${q} INC-7`);
      expect(replyText(await t.command('bob', `/problem unlink PRB-${q} INC-${x}`))).toBe(`INC-${x} is not linked to PRB-${q}.`);
      expect(replyText(await t.command('bob', `/problem unlink PRB-${p} INC-${x}`))).toBe(`INC-${x} unlinked from PRB-${p} by Bob Okafor`);
      expect(await linksOf(t, p)).toEqual([y]);
      expect(latestCard(t, `INC-${x}`)).not.toContain('Problem PRB-');
    });

    it('assign, note, priority (a change needs a note), assess; requesters may read, not work', async () => {
      await t.command('bob', '/problem new Nightly export fails service:db impact:low');
      const p = await lastProblemId(t);
      expect(await problemRow(t, p)).toMatchObject({ impact: 'low', urgency: 'medium', priority: 4 });
      expect(replyText(await t.command('bob', `/problem assign PRB-${p} alice`))).toBe(`PRB-${p} assigned to Alice Chen by Bob Okafor`);
      expect(t.port.dms('alice').map((d) => d.message?.text)).toContain(`Bob Okafor assigned problem PRB-${p} to you: Nightly export fails`);
      expect(replyText(await t.command('bob', `/problem priority PRB-${p} P2`))).toBe(`Say why the priority changes: /problem priority PRB-${p} P2 <why>.`);
      expect(replyText(await t.command('bob', `/problem priority PRB-${p} P2 finance needs it daily`))).toBe(`PRB-${p} priority P4 → P2 (impact high, urgency medium) by Bob Okafor: finance needs it daily`);
      expect(replyText(await t.command('bob', `/problem priority PRB-${p} P9 why`))).toMatch(/^Write the priority as P1…P5/);
      expect(replyText(await t.command('bob', `/problem note PRB-${p}`))).toBe(`Write the note after the id: /problem note PRB-${p} <text>.`);
      expect(replyText(await t.command('bob', `/problem note PRB-${p} export runs at 02:00`))).toBe(`Bob Okafor noted on PRB-${p}: export runs at 02:00`);
      expect(replyText(await t.command('alice', `/problem assess PRB-${p}`))).toBe(`PRB-${p} is being assessed (Alice Chen)`);
      expect(await problemRow(t, p)).toMatchObject({ state: 'assessing', confirmedBy: 'alice', assignee: 'alice', priority: 2 });
      expect(replyText(await t.command('bob', `/problem fix PRB-${p} CHG-1 notes`))).toBe(`A problem in assessing cannot be given a fix. Record the root cause first: /problem rca PRB-n <root cause>.`);
      expect(replyText(await t.command('bob', `/problem resolve PRB-${p} done`))).toMatch(/^Say how it was resolved: \/problem resolve PRB-\d+ code:fix_applied\|risk_accepted <notes>/);
      // a requester reads and searches, but does not work problems
      expect(replyText(await t.command('dave', `/problem show PRB-${p}`))).toContain(`PRB-${p} · P2 · assessing · Nightly export fails`);
      expect(replyText(await t.command('dave', '/problem list'))).toContain(`*PRB-${p}* · P2 · assessing · Nightly export fails · db · Alice Chen`);
      expect(replyText(await t.command('dave', `/problem note PRB-${p} hello`))).toMatch(/^Dave Müller may not add notes to PRB-\d+: that needs the responder role/);
      expect(replyText(await t.command('dave', '/problem new Something'))).toMatch(/may not open problems/);
      // risk accepted straight from root cause analysis, then closed
      await t.command('bob', `/problem rca PRB-${p} The export job has no retry`);
      expect(replyText(await t.command('bob', `/problem resolve PRB-${p} code:risk_accepted rerun by hand is fine`))).toBe(`PRB-${p} resolved (risk accepted) by Bob Okafor: rerun by hand is fine`);
      expect(replyText(await t.command('bob', '/problem list mine'))).toBe('No open problems assigned to you.');
      expect(replyText(await t.command('alice', '/problem list all service:db'))).toContain(`*PRB-${p}* · P2 · resolved · Nightly export fails · db · Alice Chen`);
      expect(replyText(await t.command('alice', '/problem list everything'))).toBe('I don\'t understand "everything". Write: /problem list [open|mine|all] [service:<name>]');
    });

    it('bad input is named: title, service, code, ids, subcommands', async () => {
      expect(replyText(await t.command('bob', '/problem new ab'))).toBe('Give the problem a title: the title needs at least 3 characters, like: /problem new Checkout 502s after every deploy service:checkout');
      expect(replyText(await t.command('bob', '/problem new Wifi drops service:wifi impact:huge'))).toBe('Some fields need a fix: impact: one of high, medium, low; service: unknown service "wifi" (services: checkout, payments, db).');
      expect(replyText(await t.command('bob', '/problem resolve PRB-1 code:fixed it'))).toMatch(/^code:fixed is not a resolution code\./);
      expect(replyText(await t.command('bob', '/problem show'))).toBe('Which problem? Write it like this: /problem show PRB-3');
      expect(replyText(await t.command('bob', '/problem show PRB-999'))).toBe('There is no problem PRB-999.');
      expect(replyText(await t.command('bob', '/problem frobnicate'))).toBe('I don\'t know "/problem frobnicate". Type /problem help for what it does.');
      expect(replyText(await t.command('bob', '/problem known-error PRB-1 colour:red'))).toMatch(/^I don't understand "colour:red"/);
      expect(replyText(await t.command('bob', '/problem help'))).toContain('/problem resolve PRB-n code:fix_applied|risk_accepted <notes>');
    });

    it('a known error needs a root cause or a workaround, and one per problem', async () => {
      await t.command('bob', '/problem new VPN drops hourly');
      const p = await lastProblemId(t);
      expect(replyText(await t.command('bob', `/problem known-error PRB-${p}`))).toMatch(/has neither a root cause nor a workaround yet/);
      await t.command('bob', `/problem workaround PRB-${p} Reconnect through the second gateway`);
      expect(replyText(await t.command('bob', `/problem known-error PRB-${p}`))).toMatch(/^Published KE-\d+ · VPN drops hourly/);
      expect(replyText(await t.command('bob', `/problem known-error PRB-${p}`))).toMatch(/has known error KE-\d+ already/);
      // a later workaround on the problem becomes the known error's next version
      await t.command('bob', `/problem workaround PRB-${p} Use the Amsterdam gateway`);
      const shown = replyText(await t.command('dave', `/problem show PRB-${p}`));
      expect(shown).toMatch(/Known error: KE-\d+ \(published, version 2\)/);
    });

    it('REST: create (201), list with filters, read with links, timeline and known error; actions; errors name fields', async () => {
      const inc = await openIncident(t, 'Checkout images missing service:checkout');
      const created = await t.api('POST', '/api/v1/problems', { incidents: [`INC-${inc}`], by: 'bob' });
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      expect(created.body).toMatchObject({ title: 'Checkout images missing', state: 'new', service: 'checkout', priority: 'P3', reporter: 'bob' });
      const bad = await t.api('POST', '/api/v1/problems', { title: 'x', service: 'wifi', priority: 'P9', colour: 'red' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['colour', 'priority', 'service']);
      const short = await t.api('POST', '/api/v1/problems', { title: 'x' });
      expect(short).toMatchObject({ status: 400, body: { error: { code: 'problem.invalid', issues: [{ path: 'title', message: 'the title needs at least 3 characters' }] } } });
      expect((await t.api('POST', '/api/v1/problems', { title: 'By a requester', by: 'dave' })).status).toBe(403);

      const rca = await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'rca', rootCause: 'The CDN purge job fails', by: 'bob' });
      expect(rca).toMatchObject({ status: 200, body: { state: 'root_cause_analysis', rootCause: 'The CDN purge job fails', rootCauseFound: { by: 'bob' }, incidents: [`INC-${inc}`] } });
      const missing = await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'fix', by: 'bob' });
      expect(missing.status).toBe(400);
      expect(missing.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['changeRef', 'notes']);
      expect((await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'resolve', code: 'fix_applied', notes: 'x', by: 'bob' })).status).toBe(409);
      expect((await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'note', note: 'x', by: 'dave' })).status).toBe(403);
      expect((await t.api('POST', '/api/v1/problems/PRB-999/actions', { action: 'note', note: 'x' })).status).toBe(404);
      await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'workaround', workaround: 'Purge the CDN by hand' });
      const fix = await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'fix', changeRef: 'CHG-77', notes: 'Retry the purge job', by: 'bob' });
      expect(fix.body).toMatchObject({ state: 'fix_in_progress', changeRef: 'CHG-77', fixNotes: 'Retry the purge job', fixed: { by: 'bob' } });
      const unlink = await t.api('POST', `/api/v1/problems/${id}/actions`, { action: 'unlink', incidents: [`INC-${inc}`] });
      expect(unlink.body.incidents).toEqual([]);

      const read = await t.api('GET', `/api/v1/problems/${id}`);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id, workaround: 'Purge the CDN by hand', workaroundGiven: { by: 'api' }, incidents: [], knownError: null });
      expect(read.body.timeline.map((e: { kind: string }) => e.kind)).toEqual(['created', 'incident_history', 'rca', 'workaround', 'fix', 'unlink']);
      const list = await t.api('GET', '/api/v1/problems?state=fix_in_progress&service=checkout');
      expect(list.body.items.map((i: { id: string }) => i.id)).toEqual([id]);
      const open = await t.api('GET', '/api/v1/problems?state=open&limit=1');
      expect(open.body.items).toHaveLength(1);
      expect(open.body.nextCursor).toEqual(expect.any(String));
      const badList = await t.api('GET', '/api/v1/problems?state=done&service=wifi&limit=0');
      expect(badList.status).toBe(400);
      expect(badList.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['limit', 'service', 'state']);
      expect((await t.api('GET', '/api/v1/problems/nonsense')).status).toBe(404);
    });
  });
}
