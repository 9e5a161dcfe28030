/** Test doubles for access tests: a small organisation, a tread on it, and readers of grants, tasks and codes. */
import { and, asc, eq, sql } from 'drizzle-orm';
import { queryRows, schema, type Database } from '../../../db/client.js';
import type { OrgConfig } from '../../../src/core/config/org.js';
import type { Reply } from '../../../src/core/inbound.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import { messageText, replyText, startRequestTread, type RequestTestTread, type RequestTreadOptions } from '../request/request.fakes.js';

export { auditOf, DAY, HOUR, messageText, MINUTE, replyText, START, type RequestTestTread } from '../request/request.fakes.js';

/** The organisation of access tests; the webhook and postgres resources get their target from `env`. */
export const ACCESS_YAML = `
organisation: Access
timezone: Europe/Berlin
people:
  - { id: alice, name: Alice Admin, roles: [admin, responder] }
  - { id: bob, name: Bob Responder, roles: [responder] }
  - { id: carol, name: Carol Owner }
  - { id: dave, name: Dave Asker, email: dave@example.com }
  - { id: erin, name: Erin Owner }
  - { id: frank, name: Frank Outsider }
  - { id: gina, name: Gina Ops }
teams:
  - { id: ops, members: [gina] }
approvalPolicies:
  - { name: owners, stages: [{ approvers: [{ owners: true }] }], expireAfter: 1d, remindAfter: 4h }
resources:
  - name: crm
    title: CRM
    team: ops
    owners: [carol, erin]
    roles:
      - { name: viewer, title: Read records, sensitivity: low }
      - { name: editor, title: Edit records, sensitivity: medium }
      - { name: exporter, title: Bulk export, sensitivity: high }
    approvalPolicy: owners
    defaultDuration: 4h
    maxDuration: 2d
    conflicts: [[editor, exporter]]
    connector: { kind: manual }
    review: { every: 30d, deadline: 1d, remindEvery: 8h, reviewers: [{ owners: true }], revokeUnreviewed: true }
  - name: pay
    title: Payments
    owners: [carol]
    roles:
      - { name: auditor, title: Read payments, sensitivity: low }
      - { name: operator, title: Refunds, sensitivity: medium }
    approvalPolicy: owners
    defaultDuration: 2h
    maxDuration: 8h
    requireTicket: true
    selfExtend: true
    connector: { kind: webhook, url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}" }
  - name: db
    title: Database
    owners: [carol]
    roles:
      - { name: "\${PG_PREFIX}read", title: Read, sensitivity: low }
      - { name: "\${PG_PREFIX}write", title: Write, sensitivity: high }
    approvalPolicy: owners
    defaultDuration: 1h
    maxDuration: 1d
    connector: { kind: postgres, connectionString: "\${PG_URL}", login: "\${PG_PREFIX}{person}" }
access:
  securityChannel: { console: security }
  expiryWarning: 15m
  breakGlassMax: 1h
  reconcileEvery: 15m
`;

/** The access organisation with its targets (unset ones leave those resources skipped). */
export function accessConfig(env: Record<string, string> = {}): OrgConfig {
  return parseOrganisation(ACCESS_YAML, 'access.yaml', { PG_PREFIX: 'x_', ...env });
}

/** A tread on the access organisation. */
export async function startAccessTread(database: Database, options: RequestTreadOptions & { env?: Record<string, string> } = {}) {
  return startRequestTread(database, { ...options, config: options.config ?? accessConfig(options.env) });
}

/** A stored grant. */
export async function grantRow(t: RequestTestTread, id: number) {
  const [row] = await t.db.select().from(schema.accessGrants).where(eq(schema.accessGrants.id, id));
  return row!;
}

/** The newest grant's id (0 when none). */
export async function lastGrantId(t: RequestTestTread): Promise<number> {
  const [row] = await queryRows<{ id: number | null }>(t.db, sql`select max(id)::int as id from access_grants`);
  return Number(row?.id ?? 0);
}

/** Row counts of what a refused request must not leave behind. */
export async function accessCounts(t: RequestTestTread) {
  const [row] = await queryRows<{ grants: number; approvals: number; decisions: number; tasks: number }>(t.db, sql`select
    (select count(*)::int from access_grants) as grants, (select count(*)::int from approvals) as approvals,
    (select count(*)::int from approval_decisions) as decisions, (select count(*)::int from access_tasks) as tasks`);
  return { grants: Number(row!.grants), approvals: Number(row!.approvals), decisions: Number(row!.decisions), tasks: Number(row!.tasks) };
}

/** The tasks of a grant in order. */
export async function tasksOf(t: RequestTestTread, grantId: number) {
  return t.db.select().from(schema.accessTasks).where(eq(schema.accessTasks.grantId, grantId)).orderBy(asc(schema.accessTasks.id));
}

/** The newest one-time code DM'd to a person for a grant. */
export function codeFor(t: RequestTestTread, person: string, subject: string): string {
  const dm = t.port.calls.filter((c) => c.method === 'dm' && c.user === person && c.message?.title === `Second step: ${subject}`).at(-1);
  const m = /\*(\d{6})\*/.exec(dm?.message?.text ?? '');
  if (!m) throw new Error(`no code for ${person} about ${subject}`);
  return m[1]!;
}

/** The APR id of a grant's approval. */
export async function approvalOf(t: RequestTestTread, grantId: number): Promise<string> {
  return `APR-${(await grantRow(t, grantId)).approvalId}`;
}

/** Texts of what was posted to the security channel. */
export function securityPosts(t: RequestTestTread): string[] {
  return t.port.calls.filter((c) => c.method === 'post' && c.where?.channel === 'security').map((c) => messageText(c.message));
}

/** The newest card of a subject as sent (a DM, a post or an update). */
export function lastCard(t: RequestTestTread, subject: string) {
  return t.port.calls.filter((c) => c.message?.subject === subject && (c.method === 'dm' || c.method === 'update' || c.method === 'post')).at(-1)?.message;
}

/** The text of a reply, also for forms (their errors). */
export function replyWords(reply: Reply): string {
  if (reply.kind === 'form') return [reply.form.title, reply.form.text, ...(reply.form.inputs ?? []).map((i) => `${i.id}${i.error ? `: ${i.error}` : ''}`)].filter(Boolean).join('\n');
  return replyText(reply);
}

/** Audit rows whose data names a resource or person, newest last. */
export async function auditWhere(t: RequestTestTread, action: string) {
  return t.db.select().from(schema.auditLog).where(and(eq(schema.auditLog.action, action))).orderBy(asc(schema.auditLog.seq));
}
