/**
 * `GET /api/v1/audit?subject=&actor=&action=&from=&to=`: the audit log as a JSON list like every other (newest first,
 * `limit` and `cursor`), or, with `Accept: text/csv`, every matching row as CSV, oldest first (streamed in pages).
 */
import type { ServerResponse } from 'node:http';
import { and, asc, desc, eq, gte, like, lt, lte, gt, type SQL } from 'drizzle-orm';
import { schema } from '../../db/client.js';
import type { AppContext } from '../core/app.js';
import type { Request, Route, RouteTools } from '../core/route.js';
import { iso, listQuery, sendIssues, sendList, type Issue } from './rest.js';

type AuditRow = typeof schema.auditLog.$inferSelect;

function auditJson(r: AuditRow) {
  return { seq: r.seq, at: iso(r.at), actor: r.actor, source: r.source, subject: r.subject, action: r.action, data: r.data, prevHash: r.prevHash, hash: r.hash };
}

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const CSV_COLUMNS = ['seq', 'at', 'actor', 'source', 'subject', 'action', 'data', 'prev_hash', 'hash'];

/** The filters of the query, every bad one noted in `issues`. `action` ending in `*` matches a prefix (`incident.*`). */
function filters(q: URLSearchParams, issues: Issue[]): SQL[] {
  const t = schema.auditLog;
  const out: SQL[] = [];
  for (const key of ['subject', 'actor'] as const) {
    const v = q.get(key);
    if (v !== null && v !== '') out.push(eq(t[key], v));
  }
  const action = q.get('action');
  if (action) out.push(action.endsWith('*') ? like(t.action, `${action.slice(0, -1).replace(/[%_\\]/g, '\\$&')}%`) : eq(t.action, action));
  for (const key of ['from', 'to'] as const) {
    const v = q.get(key);
    if (v === null || v === '') continue;
    const ms = Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(ms)) { issues.push({ path: key, message: 'write an ISO 8601 time like 2026-12-01T09:00:00Z' }); continue; }
    out.push(key === 'from' ? gte(t.at, new Date(ms)) : lte(t.at, new Date(ms)));
  }
  return out;
}

async function sendCsv(app: AppContext, res: ServerResponse, where: SQL[]): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="tread-audit.csv"' });
  res.write(`${CSV_COLUMNS.join(',')}\r\n`);
  for (let after = 0; ;) {
    const rows = await app.db.select().from(schema.auditLog).where(and(...where, gt(schema.auditLog.seq, after))).orderBy(asc(schema.auditLog.seq)).limit(2000);
    for (const r of rows) res.write(`${[r.seq, iso(r.at), r.actor, r.source, r.subject, r.action, r.data, r.prevHash, r.hash].map(csvField).join(',')}\r\n`);
    if (rows.length < 2000) break;
    after = rows[rows.length - 1]!.seq;
  }
  res.end();
}

/** The audit export route (behind the REST token). */
export function auditRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [{
    method: 'GET', path: '/api/v1/audit', handler: async (req: Request, res) => {
      if (!tools.authorizeApi(req, res)) return;
      const issues: Issue[] = [];
      const { limit, cursor } = listQuery(req.query, issues);
      const where = filters(req.query, issues);
      if (issues.length) return sendIssues(res, issues);
      if (/\btext\/csv\b/.test(req.headers.accept ?? '')) return sendCsv(app, res, where);
      if (cursor !== undefined) where.push(lt(schema.auditLog.seq, cursor));
      const rows = await app.db.select().from(schema.auditLog).where(and(...where)).orderBy(desc(schema.auditLog.seq)).limit(limit + 1);
      sendList(res, rows, limit, auditJson, (r) => r.seq);
    },
  }];
}
