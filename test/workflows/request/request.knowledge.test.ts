/**
 * Knowledge answers on a fixed article set, on PGlite and PostgreSQL: ranking (title weighted over body, every word
 * before any word), phrases and exclusions, snippets, re-indexing when files change (by the timer, and at start),
 * `/ask show`, "Didn't help — open a request", known errors merged from a stand-in problem workflow, and REST.
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../db/client.js';
import type { OpContext, Workflow } from '../../../src/core/workflow.js';
import { allWorkflows, parseOrganisation } from '../../../src/workflows/index.js';
import { drivers, openTestDatabase } from '../../helpers/db.js';
import { MINUTE, replyText, startRequestTread, type RequestTestTread } from './request.fakes.js';

const ARTICLES: Record<string, string> = {
  'vpn.md': '# Connect to the VPN\n\nInstall the VPN client from the portal and sign in. If the VPN says authentication failed, reset your password first.',
  'password.md': '# Reset your password\n\nPasswords expire every 90 days. Go to the identity portal to reset it; the new one works for email and the VPN at once.',
  'wifi.md': '# Guest Wi-Fi\n\nThe guest network password changes every Monday; reception hands it out.',
  'printer.md': '# Add an office printer\n\nThere is a printer on every floor. Print jobs wait until you tap your badge.',
  'hardware/battery.md': 'Lower the screen brightness and close the browser tabs you do not need.',
};

/** The problem workflow's declared search, as a stand-in: it knows one known error about dropping VPN connections. */
const calls: unknown[] = [];
const problemStandIn: Workflow = {
  name: 'problem',
  provides: {
    'problem.search_known_errors': async (_op: OpContext, input: { query: string; limit: number }) => {
      calls.push(input);
      return /dropping/i.test(input.query)
        ? [{ id: 'KE-7', title: 'VPN connections dropping every hour', snippet: 'the *VPN* gateway in Berlin restarts hourly', workaround: 'Connect through the Amsterdam gateway', rank: 5 }]
        : [];
    },
  } as unknown as Workflow['provides'],
};

for (const driver of drivers) {
  describe(`knowledge answers (${driver})`, () => {
    let database: Database;
    let t: RequestTestTread;
    let folder: string;

    beforeAll(async () => {
      folder = mkdtempSync(join(tmpdir(), 'tread-kb-'));
      mkdirSync(join(folder, 'hardware'));
      for (const [path, text] of Object.entries(ARTICLES)) writeFileSync(join(folder, path), text);
      writeFileSync(join(folder, 'notes.txt'), 'not an article');
      const config = parseOrganisation(`
people:
  - { id: alice, name: Alice, roles: [admin] }
  - { id: dave, name: Dave }
teams:
  - { id: it, members: [alice] }
catalog:
  - { name: other, title: Something else, generic: true, fields: [{ id: details, label: What do you need?, type: multiline, required: true }], fulfilment: { team: it, tasks: [{ title: Handle it }] } }
knowledge: { folder: "${folder}", reindexEvery: 5m }
`, 'kb.yaml', {});
      database = await openTestDatabase(driver);
      t = await startRequestTread(database, { config, http: true, workflows: [...allWorkflows.filter((w) => w.name !== 'problem'), problemStandIn] });
    });
    afterAll(async () => {
      await t?.tread.stop({ closeDatabase: false });
      await database?.close();
      rmSync(folder, { recursive: true, force: true });
    });

    const ask = async (q: string) => (await t.api('GET', `/api/v1/knowledge?q=${encodeURIComponent(q)}`)).body.items as { id: string; title: string; snippet: string; rank: number; kind: string }[];
    const titles = async (q: string) => (await ask(q)).map((a) => a.title);

    it('indexes the markdown files at start: titles from the first heading, else the file name', async () => {
      const rows = await database.rows<{ path: string; title: string }>(sql`select path, title from knowledge_articles order by path`);
      expect(rows).toEqual([
        { path: 'hardware/battery.md', title: 'Battery' },
        { path: 'password.md', title: 'Reset your password' },
        { path: 'printer.md', title: 'Add an office printer' },
        { path: 'vpn.md', title: 'Connect to the VPN' },
        { path: 'wifi.md', title: 'Guest Wi-Fi' },
      ]);
    });

    it('ranks title matches over body matches, articles with every word before those with some', async () => {
      expect(await titles('vpn')).toEqual(['Connect to the VPN', 'Reset your password']);
      expect(await titles('reset password')).toEqual(['Reset your password', 'Connect to the VPN', 'Guest Wi-Fi']);
      expect(await titles('how do I reset my vpn password')).toEqual(['Connect to the VPN', 'Reset your password', 'Guest Wi-Fi']);
      expect(await titles('printer toner')).toEqual(['Add an office printer']);
      expect(await titles('"guest network"')).toEqual(['Guest Wi-Fi']);
      expect(await titles('password -vpn')).toEqual(['Guest Wi-Fi']);
      expect(await titles('how do I')).toEqual([]);
      const [top] = await ask('reset password');
      expect(top!.snippet).toMatch(/\*Passwords\* expire every 90 days/);
      expect(top!.id).toMatch(/^KB-\d+$/);
    });

    it('/ask answers the best three with snippets, /ask show KB-n shows the article, and "Didn\'t help" opens the generic form filled in', async () => {
      const reply = await t.command('dave', '/ask how do I reset my vpn password');
      const text = replyText(reply);
      expect(text).toMatch(/^Answers for “how do I reset my vpn password”\n\*KB-\d+ · Connect to the VPN\*/);
      expect(text.match(/\/ask show KB-\d+ for the whole article/g)).toHaveLength(3);
      const button = reply.kind === 'ephemeral' ? reply.message.buttons![0]! : undefined;
      expect(button).toMatchObject({ actionId: 'request.ask.open', label: "Didn't help — open a request", value: 'how do I reset my vpn password' });
      const id = /KB-(\d+) · Connect to the VPN/.exec(text)![1];
      expect(replyText(await t.command('dave', `/ask show KB-${id}`))).toBe(`KB-${id} · Connect to the VPN\nInstall the VPN client from the portal and sign in. If the VPN says authentication failed, reset your password first.\nvpn.md`);
      expect(replyText(await t.command('dave', '/ask show KB-999'))).toBe('There is no article KB-999.');
      expect(replyText(await t.command('dave', '/ask show nothing'))).toMatch(/"nothing" is not an article id/);
      expect(replyText(await t.command('dave', '/ask ?'))).toMatch(/Ask a question after \/ask/);
      const form = await t.press('dave', 'request.ask.open', button!.value);
      expect(form.kind === 'form' && form.form.inputs![0]).toMatchObject({ id: 'details', initial: 'how do I reset my vpn password' });
      const none = await t.command('dave', '/ask quantum entanglement');
      expect(replyText(none)).toBe('No answer found\nI found nothing about “quantum entanglement” in the knowledge base; open a request and someone will help.');
    });

    it('merges published known errors from the problem workflow\'s declared search by rank', async () => {
      calls.length = 0;
      const reply = replyText(await t.command('dave', '/ask vpn keeps dropping'));
      expect(calls).toEqual([{ query: 'vpn keeps dropping', limit: 3 }]);
      expect(reply).toMatch(/^Answers for “vpn keeps dropping”\n\*KE-7 · VPN connections dropping every hour\* \(known error\)\nthe \*VPN\* gateway in Berlin restarts hourly\n\*Workaround:\* Connect through the Amsterdam gateway\n\n\*KB-\d+ · Connect to the VPN\*/);
      expect((await ask('vpn keeps dropping')).map((a) => [a.id.slice(0, 3), a.kind])).toEqual([['KE-', 'known_error'], ['KB-', 'article'], ['KB-', 'article']]);
    });

    it('re-indexes when files change: edited (same id), added, removed', async () => {
      const before = await ask('printer');
      writeFileSync(join(folder, 'printer.md'), '# Add a floor printer\n\nEvery floor has one; scanning to email works too.');
      writeFileSync(join(folder, 'scanner.md'), '# Scan to email\n\nThe floor printer scans documents to your email.');
      unlinkSync(join(folder, 'wifi.md'));
      expect(await titles('guest')).toEqual(['Guest Wi-Fi']); // not before the timer
      await t.advance(5 * MINUTE);
      expect(await titles('guest')).toEqual([]);
      const after = await ask('printer');
      expect(after.map((a) => a.title)).toEqual(['Add a floor printer', 'Scan to email']);
      expect(after[0]!.id).toBe(before[0]!.id);
    });

    it('REST: q is required', async () => {
      const res = await t.api('GET', '/api/v1/knowledge');
      expect(res.status).toBe(400);
      expect(res.body.error.issues).toEqual([{ path: 'q', message: 'required: the question' }]);
      expect((await t.api('GET', '/api/v1/knowledge?q=vpn&limit=99')).body.error.issues).toEqual([{ path: 'limit', message: 'a whole number from 1 to 20' }]);
    });
  });
}
