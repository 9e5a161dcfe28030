/**
 * Problem management and the known error database: `/problem`, problem cards, known errors (`KE-n`) searched on every new
 * incident after its commit (a hint with feedback buttons on the incident's card), recurring-incident proposals, REST,
 * and the known error search `/ask` uses. It talks to incidents and on-call only through the seam.
 */
import { sql } from 'drizzle-orm';
import { queryRows } from '../../../db/client.js';
import { parseRecordId } from '../../core/commands.js';
import { on, type OpContext, type Permission, type Workflow } from '../../core/workflow.js';
import { problemActions, problemCommand } from './problem.commands.js';
import { problemConfig } from './problem.config.js';
import { incidentContribution, matchNewIncident, searchKnownErrors } from './problem.kedb.js';
import { knownErrorSubject } from './problem.messages.js';
import { problemRoutes } from './problem.routes.js';
import { cardFor, getProblem } from './problem.service.js';
import { armRecurrence, problemTimers } from './problem.timers.js';

/** A known error found by `problem.search_known_errors`. */
export interface KnownErrorAnswer {
  id: string;
  title: string;
  snippet: string;
  workaround: string | null;
  rank: number;
}

declare module '../../core/workflow.js' {
  interface Operations {
    /** Published known errors matching every word of a question, best first (`/ask` merges them with articles). */
    'problem.search_known_errors': (op: OpContext, input: { query: string; service?: string; limit: number }) => Promise<KnownErrorAnswer[]>;
  }
}

const permissions: Record<string, Permission> = {
  'problem.view': { roles: ['requester'], what: 'see problems and known errors' },
  'problem.feedback': { roles: ['requester'], what: 'say whether a known error helped' },
  'problem.create': { roles: ['responder'], what: 'open problems' },
  'problem.assess': { roles: ['responder'], what: 'assess' },
  'problem.rca': { roles: ['responder'], what: 'record the root cause of' },
  'problem.workaround': { roles: ['responder'], what: 'give a workaround for' },
  'problem.fix': { roles: ['responder'], what: 'start the fix of' },
  'problem.resolve': { roles: ['responder'], what: 'resolve' },
  'problem.duplicate': { roles: ['responder'], what: 'mark {subject} a duplicate' },
  'problem.close': { roles: ['responder'], what: 'close' },
  'problem.assign': { roles: ['responder'], what: 'assign' },
  'problem.note': { roles: ['responder'], what: 'add notes to' },
  'problem.link': { roles: ['responder'], what: 'link incidents to' },
  'problem.unlink': { roles: ['responder'], what: 'unlink incidents from' },
  'problem.priority': { roles: ['responder'], what: 'change the priority of' },
  'problem.known_error': { roles: ['responder'], what: 'publish or change known errors' },
  'problem.recurring': { roles: ['responder'], what: 'look for recurring incidents' },
};

/** Problem management. */
export const problemWorkflow: Workflow = {
  name: 'problem',
  config: problemConfig,
  permissions,
  commands: [problemCommand],
  actions: problemActions,
  timers: problemTimers,
  provides: {
    'problem.search_known_errors': async ({ tx }, { query, service, limit }) =>
      (await searchKnownErrors(tx, { text: query, mode: 'all', service, limit })).map((k) => ({ id: knownErrorSubject(k.id), title: k.title, snippet: k.snippet, workaround: k.workaround, rank: k.rank })),
  },
  subscribes: [
    // After a new incident committed (chat, REST or alerts): the known error database is searched with its words, and a
    // match goes on its card. After commit, so neither opening incidents nor ingesting alerts waits for the search.
    on('incident.opened', 'after', 'kedb-match', async (tx, app, e, now) => { await matchNewIncident(tx, app, e, now); }),
  ],
  contributes: [{
    // An incident's card shows its problem (with the workaround) and the known errors that may match. An incident being
    // opened has neither: problems link it later, and the known error search runs after its commit (then refreshes the
    // card), so opening an incident reads no problem table.
    prefix: 'INC-',
    atOpening: false,
    contribute: (db, app, subject) => incidentContribution(db, app, subject),
  }],
  routes: problemRoutes,
  async start(app) {
    await armRecurrence(app);
  },
  async metrics(app) {
    const byState = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from problems group by state`);
    const hints = await queryRows<{ feedback: string | null; n: number }>(app.db, sql`select feedback, count(*)::int as n from kedb_hints group by feedback`);
    const known = await queryRows<{ state: string; n: number }>(app.db, sql`select state, count(*)::int as n from known_errors group by state`);
    return [
      { name: 'tread_problems', type: 'gauge', help: 'Problems by state', samples: byState.map((r) => ({ labels: { state: r.state }, value: Number(r.n) })) },
      { name: 'tread_known_errors', type: 'gauge', help: 'Known errors by state', samples: known.map((r) => ({ labels: { state: r.state }, value: Number(r.n) })) },
      { name: 'tread_kedb_hints', type: 'gauge', help: 'Known error hints shown on incidents, by feedback', samples: hints.map((r) => ({ labels: { feedback: r.feedback ?? 'none' }, value: Number(r.n) })) },
    ];
  },
  async card(app, subject) {
    const id = /^PRB-\d+$/i.test(subject) ? parseRecordId('PRB', subject) : undefined;
    if (id === undefined) return undefined;
    const now = app.clock.now();
    return app.db.transaction(async (tx) => cardFor(tx, app, await getProblem(tx, id), now));
  },
};
