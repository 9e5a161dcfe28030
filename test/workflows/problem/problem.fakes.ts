/** Test doubles for problem tests: a tread on the example organisation (recording console port, manual clock) and readers. */
import { asc, eq, sql } from 'drizzle-orm';
import { queryRows, schema, type Database } from '../../../db/client.js';
import { startRequestTread, type RequestTestTread, type RequestTreadOptions } from '../request/request.fakes.js';
import { messageText } from '../../helpers/recording-port.js';

export { API_TOKEN, CONSOLE, DAY, HOUR, MINUTE, START, exampleConfig, messageText, replyText } from '../request/request.fakes.js';

/** A tread for problem tests. */
export type ProblemTestTread = RequestTestTread;

/** Starts a tread (every registered workflow) for problem tests. */
export function startProblemTread(database: Database, options: RequestTreadOptions = {}): Promise<ProblemTestTread> {
  return startRequestTread(database, options);
}

async function lastId(t: ProblemTestTread, table: 'incidents' | 'problems' | 'known_errors' | 'problem_proposals'): Promise<number> {
  const [row] = await queryRows<{ id: number | null }>(t.db, sql`select max(id)::int as id from ${sql.identifier(table)}`);
  return Number(row?.id ?? 0);
}

/** The newest incident's id. */
export const lastIncidentId = (t: ProblemTestTread) => lastId(t, 'incidents');
/** The newest problem's id. */
export const lastProblemId = (t: ProblemTestTread) => lastId(t, 'problems');
/** The newest known error's id. */
export const lastKnownErrorId = (t: ProblemTestTread) => lastId(t, 'known_errors');
/** The newest recurrence proposal's id. */
export const lastProposalId = (t: ProblemTestTread) => lastId(t, 'problem_proposals');

/** Opens an incident in the console as a person and returns its id. */
export async function openIncident(t: ProblemTestTread, text: string, who = 'alice'): Promise<number> {
  await t.command(who, `/incident ${text}`);
  return lastIncidentId(t);
}

/** A stored problem. */
export async function problemRow(t: ProblemTestTread, id: number) {
  const [row] = await t.db.select().from(schema.problems).where(eq(schema.problems.id, id));
  return row!;
}

/** A stored incident. */
export async function incidentRow(t: ProblemTestTread, id: number) {
  const [row] = await t.db.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  return row!;
}

/** Incident ids linked to a problem. */
export async function linksOf(t: ProblemTestTread, problemId: number): Promise<number[]> {
  const rows = await t.db.select().from(schema.problemIncidents).where(eq(schema.problemIncidents.problemId, problemId)).orderBy(asc(schema.problemIncidents.incidentId));
  return rows.map((r) => r.incidentId);
}

/** Cards (posts and updates with a title; thread announcements have none) of a subject the chat port saw. */
function cardCalls(t: ProblemTestTread, subject: string) {
  return t.port.calls.filter((c) => (c.method === 'post' || c.method === 'update') && c.message?.subject === subject && c.message.title);
}

/** The newest card of a subject, as text. */
export function latestCard(t: ProblemTestTread, subject: string): string {
  return messageText(cardCalls(t, subject).at(-1)?.message);
}

/** The buttons of the newest card of a subject. */
export function latestButtons(t: ProblemTestTread, subject: string): { actionId: string; label: string; value: string }[] {
  return (cardCalls(t, subject).at(-1)?.message?.buttons ?? []).map(({ actionId, label, value }) => ({ actionId, label, value }));
}

/** Timeline texts of a subject, oldest first. */
export async function timelineTexts(t: ProblemTestTread, subject: string): Promise<string[]> {
  const rows = await t.db.select().from(schema.timeline).where(eq(schema.timeline.subject, subject)).orderBy(asc(schema.timeline.id));
  return rows.map((r) => r.text);
}

/** Hints of an incident. */
export async function hintsOf(t: ProblemTestTread, incidentId: number) {
  return t.db.select().from(schema.kedbHints).where(eq(schema.kedbHints.incidentId, incidentId)).orderBy(asc(schema.kedbHints.knownErrorId));
}

/** Escalations of a subject (oncall), newest last. */
export async function escalationsOf(t: ProblemTestTread, subject: string) {
  return t.db.select().from(schema.escalations).where(eq(schema.escalations.subject, subject)).orderBy(asc(schema.escalations.id));
}
