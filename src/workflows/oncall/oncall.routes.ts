/** REST: `GET /api/v1/oncall` — who is on call now (or at `at`) per schedule. */
import type { AppContext } from '../../core/app.js';
import { directoryOf } from '../../core/identity.js';
import type { Route, RouteTools } from '../../core/route.js';
import { encodeCursor, listQuery, sendIssues, sendJson, type Issue } from '../../http/rest.js';
import { findSchedule, onCallAt, schedulesOf } from './oncall.service.js';

/** The on-call routes. */
export function oncallRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [{
    method: 'GET', path: '/api/v1/oncall', name: '/api/v1/oncall',
    handler: async (req, res) => {
      if (!tools.authorizeApi(req, res)) return;
      const q = req.query;
      const issues: Issue[] = [];
      const { limit, cursor } = listQuery(q, issues);
      const offset = cursor ?? 0; // the cursor carries the index of the next schedule
      let at = app.clock.now();
      const atParam = q.get('at');
      if (atParam !== null) {
        const t = Date.parse(atParam);
        if (!/^\d{4}-\d{2}-\d{2}T/.test(atParam) || Number.isNaN(t)) issues.push({ path: 'at', message: 'write an ISO 8601 time like 2026-12-01T09:00:00Z' });
        else at = new Date(t);
      }
      let schedules = schedulesOf(app);
      const only = q.get('schedule');
      if (only !== null) {
        const s = findSchedule(app, only);
        if (!s) issues.push({ path: 'schedule', message: `unknown schedule "${only}"` });
        else schedules = [s];
      }
      if (issues.length) return sendIssues(res, issues);
      const page = schedules.slice(offset, offset + limit);
      const dir = directoryOf(app.config);
      const items = [];
      for (const s of page) {
        const { current, next } = await onCallAt(app.db, s, at);
        const person = (id: string | null) => (id ? { id, name: dir.get(id)?.name ?? id } : null);
        items.push({
          schedule: s.name,
          person: person(current.person),
          until: current.until?.toISOString() ?? null,
          override: current.via === 'override',
          next: next ? { person: person(next.person), from: next.from.toISOString(), until: next.until?.toISOString() ?? null } : null,
        });
      }
      const nextCursor = offset + limit < schedules.length ? encodeCursor(offset + limit) : null;
      sendJson(res, 200, { items, nextCursor });
    },
  }];
}
