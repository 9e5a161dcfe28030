/**
 * What incidents offer other workflows on the seam besides opening and resolving: reading incidents (one, or the recent
 * ones of a time window), refreshing a card after another workflow changed what it contributes, a note on the incident's
 * thread and timeline, and a direct message to its assignee. Declared in index.ts; no other workflow imports this file.
 */
import { and, asc, eq, gte, inArray, isNotNull, ne } from 'drizzle-orm';
import { schema, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import type { Actor } from '../../core/identity.js';
import { enqueue } from '../../core/outbox.js';
import { readTimeline } from '../../core/timeline.js';
import type { HoldReason, IncidentState } from './incident.machine.js';
import { incidentSubject, type IncidentRow } from './incident.messages.js';
import { cardFor, changeIncident, getIncident } from './incident.service.js';

/** An incident as other workflows see it (plain JSON). */
export interface IncidentView {
  id: number;
  subject: string;
  title: string;
  description: string | null;
  service: string | null;
  state: IncidentState;
  holdReason: HoldReason | null;
  priority: number;
  assignee: string | null;
  createdAt: string;
  resolvedAt: string | null;
  /** With `timeline: true`: its entries, oldest first. */
  timeline?: { at: string; kind: string; text: string }[];
}

/** The timeline entries worth copying elsewhere (a problem opened from the incident): what people found and did. */
const KEY_KINDS = new Set(['created', 'note', 'hold', 'resolve', 'priority', 'major', 'service', 'reopen', 'cancel']);

function viewOf(row: IncidentRow): IncidentView {
  return {
    id: row.id, subject: incidentSubject(row.id), title: row.title, description: row.description, service: row.service, state: row.state as IncidentState,
    holdReason: (row.holdReason as HoldReason | null) ?? null, priority: row.priority, assignee: row.assignee,
    createdAt: row.createdAt.toISOString(), resolvedAt: row.resolvedAt?.toISOString() ?? null,
  };
}

/** One incident, or null when there is none with that id; `timeline: true` adds its key timeline entries. */
export async function incidentView(tx: Tx, id: number, options: { timeline?: boolean } = {}): Promise<IncidentView | null> {
  const [row] = await tx.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  if (!row) return null;
  const view = viewOf(row);
  if (options.timeline) {
    view.timeline = (await readTimeline(tx, view.subject)).filter((e) => KEY_KINDS.has(e.kind)).map((e) => ({ at: e.at.toISOString(), kind: e.kind, text: e.text }));
  }
  return view;
}

/** Incidents opened since a time (oldest first), with a service, not cancelled; of some services or ids only when given. */
export async function recentIncidents(tx: Tx, input: { since: Date; services?: string[]; ids?: number[]; limit?: number }): Promise<IncidentView[]> {
  const t = schema.incidents;
  const rows = await tx.select().from(t).where(and(
    gte(t.createdAt, input.since), isNotNull(t.service), ne(t.state, 'cancelled'),
    input.services ? inArray(t.service, input.services.length ? input.services : ['']) : undefined,
    input.ids ? inArray(t.id, input.ids.length ? input.ids : [0]) : undefined,
  )).orderBy(asc(t.createdAt), asc(t.id)).limit(Math.min(input.limit ?? 2000, 10_000));
  return rows.map(viewOf);
}

/** Edits every card of the incident in place (another workflow's contribution changed). */
export async function refreshIncidentCard(tx: Tx, app: AppContext, id: number, now: Date): Promise<void> {
  const row = await getIncident(tx, id);
  await enqueue(tx, { kind: 'update', subject: incidentSubject(id), message: await cardFor(tx, app, row, now) });
}

/** A note on the incident: its timeline, audit, the thread of its cards, and the card refreshed. */
export async function noteIncident(tx: Tx, app: AppContext, id: number, note: string, actor: Actor, now: Date): Promise<void> {
  await changeIncident(tx, app, id, { action: 'note', note }, actor, now);
}

/** A direct message to the incident's assignee; false when nobody is assigned. */
export async function tellAssignee(tx: Tx, id: number, text: string): Promise<boolean> {
  const row = await getIncident(tx, id);
  if (!row.assignee) return false;
  const subject = incidentSubject(id);
  await enqueue(tx, { kind: 'dm', person: row.assignee, message: { text, subject } }, { orderKey: subject });
  return true;
}
