/**
 * The audit log over REST (`GET /api/v1/audit`, JSON and CSV) and policy refusals: a 403 in REST and a sentence in chat,
 * each written to the audit log on its own while the refused change rolls back.
 */
import { request } from 'node:http';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { queryRows } from '../../db/client.js';
import { PolicyRefusal, inTransaction } from '../../src/core/refusals.js';
import type { Route } from '../../src/core/route.js';
import type { Workflow } from '../../src/core/workflow.js';
import { verifyAudit } from '../../src/core/audit.js';
import { drivers } from '../helpers/db.js';
import { treadPerFile } from '../helpers/tread.js';
import { API_TOKEN, replyText, startIncidentTread, type IncidentTestTread } from '../workflows/incident/incident.fakes.js';

/** A stand-in approvals workflow: `/demo approve <who-asked>` refuses self-approval; it inserts a row it must not keep. */
function demo(): Workflow {
  const approve = async (app: Parameters<typeof inTransaction>[0], person: { id: string; name: string; roles: ReadonlySet<never>; known: boolean }, requester: string, source: 'console' | 'api') => inTransaction(app, async (tx) => {
    await tx.execute(sql`insert into demo_decisions (who) values (${person.id})`);
    if (requester === person.id) throw new PolicyRefusal('approval.self_approval', `${person.name} asked for REQ-1, so someone else must approve it.`, { actor: { person: person as never, source }, subject: 'REQ-1', data: { stage: 1 } });
  });
  return {
    name: 'demo',
    commands: [{ name: 'demo', summary: 'demo', usage: [], handle: async (i, ctx) => { await approve(ctx, ctx.person as never, i.text.split(' ')[1]!, 'console'); return { kind: 'ephemeral', message: { text: 'approved' } }; } }],
    routes: (app, tools): Route[] => [{
      method: 'POST', path: '/api/v1/demo-approve', handler: async (req, res) => {
        if (!tools.authorizeApi(req, res)) return;
        try {
          await approve(app, { id: 'alice', name: 'Alice Chen', roles: new Set(), known: true }, 'alice', 'api');
          res.writeHead(200).end();
        } catch (e) {
          const err = e as PolicyRefusal;
          res.writeHead(err.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: err.code, message: err.message } }));
        }
      },
    }],
  };
}

function call(t: IncidentTestTread, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.tread.port, path, method, headers: { authorization: `Bearer ${API_TOKEN}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type'] ?? ''), text }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const driver of drivers) {
  describe(`audit REST and policy refusals (${driver})`, () => {
    let t: IncidentTestTread;
    treadPerFile(driver, async (database) => {
      await database.db.execute(sql`create table demo_decisions (who text not null)`);
      return startIncidentTread(database, { http: true, extraWorkflows: [demo()] });
    }, (s) => { t = s; });

    it('a refusal in chat is a sentence; the change rolls back and the refusal alone is audited', async () => {
      const reply = await t.command('alice', '/demo approve alice');
      expect(replyText(reply)).toBe('Alice Chen asked for REQ-1, so someone else must approve it.');
      expect(await queryRows(t.db, sql`select * from demo_decisions`)).toEqual([]);
      const [row] = await queryRows<{ actor: string; source: string; action: string; data: Record<string, unknown> }>(t.db, sql`select actor, source, action, data from audit_log where subject = 'REQ-1' order by seq`);
      expect(row).toEqual({ actor: 'alice', source: 'console', action: 'refused:approval.self_approval', data: { stage: 1, reason: 'Alice Chen asked for REQ-1, so someone else must approve it.' } });
      expect((await verifyAudit(t.db)).ok).toBe(true);
    });

    it('a refusal over REST is a 403 with its code, audited the same way', async () => {
      const r = await call(t, 'POST', '/api/v1/demo-approve');
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error.code).toBe('approval.self_approval');
      const rows = await queryRows<{ source: string }>(t.db, sql`select source from audit_log where action = 'refused:approval.self_approval' order by seq`);
      expect(rows.map((x) => x.source)).toEqual(['console', 'api']);
    });

    it('GET /api/v1/audit lists newest first with filters and paging; bad filters are 400 naming them', async () => {
      await t.command('alice', '/incident Audit me please');
      await t.command('alice', '/incident ack');
      const all = JSON.parse((await call(t, 'GET', '/api/v1/audit?limit=2')).text);
      expect(all.items).toHaveLength(2);
      expect(all.items[0].seq).toBeGreaterThan(all.items[1].seq);
      expect(all.nextCursor).toEqual(expect.any(String));
      const next = JSON.parse((await call(t, 'GET', `/api/v1/audit?limit=2&cursor=${all.nextCursor}`)).text);
      expect(next.items[0].seq).toBeLessThan(all.items[1].seq);
      const refused = JSON.parse((await call(t, 'GET', '/api/v1/audit?action=refused:*&subject=REQ-1')).text);
      expect(refused.items.map((i: { action: string }) => i.action)).toEqual(['refused:approval.self_approval', 'refused:approval.self_approval']);
      const mine = JSON.parse((await call(t, 'GET', '/api/v1/audit?actor=alice&action=incident.created')).text);
      expect(mine.items.length).toBeGreaterThan(0);
      expect(mine.items.every((i: { actor: string; action: string }) => i.actor === 'alice' && i.action === 'incident.created')).toBe(true);
      const future = JSON.parse((await call(t, 'GET', `/api/v1/audit?from=${encodeURIComponent(new Date(t.clock.now().getTime() + 60_000).toISOString())}`)).text);
      expect(future.items).toEqual([]);
      const bad = await call(t, 'GET', '/api/v1/audit?from=yesterday&limit=0');
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.text).error.issues.map((i: { path: string }) => i.path).sort()).toEqual(['from', 'limit']);
    });

    it('Accept: text/csv exports every matching row, oldest first, quoted where needed', async () => {
      const r = await call(t, 'GET', '/api/v1/audit?subject=REQ-1', { accept: 'text/csv' });
      expect(r.status).toBe(200);
      expect(r.type).toMatch(/^text\/csv/);
      const lines = r.text.trimEnd().split('\r\n');
      expect(lines[0]).toBe('seq,at,actor,source,subject,action,data,prev_hash,hash');
      expect(lines).toHaveLength(3);
      expect(lines[1]).toMatch(/^\d+,\d{4}-\d\d-\d\dT[^,]+,alice,console,REQ-1,refused:approval.self_approval,"\{""stage"":1,""reason"":""Alice Chen asked for REQ-1, so someone else must approve it.""\}",[0-9a-f]{64},[0-9a-f]{64}$/);
      expect(Number(lines[1]!.split(',')[0])).toBeLessThan(Number(lines[2]!.split(',')[0]));
    });

    it('needs the API token', async () => {
      const r = await call(t, 'GET', '/api/v1/audit', { authorization: 'Bearer wrong-token-0000000000' });
      expect(r.status).toBe(401);
    });
  });
}
