/** REST: `GET /api/v1/oncall` — who is on call now (or at `at`) per schedule. */
import type { ServerResponse } from 'node:http';
import type { AppContext } from '../../core/app.js';
import { directoryOf } from '../../core/identity.js';
import type { RouteTools } from '../../core/workflow.js';
import { decodeCursor, encodeCursor, pageLimit } from '../../http/rest.js';
import { sendError, sendJson, type Route } from '../../http/server.js';
import { findSchedule, onCallAt, schedulesOf } from './oncall.service.js';

function badParam(res: ServerResponse, field: string, message: string): void {
  sendError(res, 400, 'api.invalid', `${field}: ${message}`, [{ path: field, message }]);
}

/** The on-call routes. */
export function oncallRoutes(app: AppContext, tools: RouteTools): Route[] {
  return [{
    method: 'GET', path: '/api/v1/oncall', name: '/api/v1/oncall',
    handler: async (req, res) => {
      if (!tools.authorizeApi(req, res)) return;
      const q = req.query;
      const limit = pageLimit(q);
      if (typeof limit !== 'number') return badParam(res, 'limit', limit.error.replace(/^limit /, ''));
      const cursor = decodeCursor(q.get('cursor'));
      if (typeof cursor === 'object') return badParam(res, 'cursor', cursor.error.replace(/^cursor /, ''));
      const offset = cursor ?? 0; // the cursor carries the index of the next schedule
      let at = app.clock.now();
      const atParam = q.get('at');
      if (atParam !== null) {
        const t = Date.parse(atParam);
        if (!/^\d{4}-\d{2}-\d{2}T/.test(atParam) || Number.isNaN(t)) return badParam(res, 'at', 'write an ISO 8601 time like 2026-12-01T09:00:00Z');
        at = new Date(t);
      }
      let schedules = schedulesOf(app);
      const only = q.get('schedule');
      if (only !== null) {
        const s = findSchedule(app, only);
        if (!s) return badParam(res, 'schedule', `unknown schedule "${only}"`);
        schedules = [s];
      }
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
