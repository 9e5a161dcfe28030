/** Test doubles for request and approval tests: a tread with recording ports on a manual clock, and readers of its rows. */
import { randomBytes } from 'node:crypto';
import { and, asc, eq, sql } from 'drizzle-orm';
import { queryRows, schema, type Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import type { OrgConfig } from '../../../src/core/config/org.js';
import type { Inbound, Reply, Where } from '../../../src/core/inbound.js';
import type { PlatformAdapter } from '../../../src/core/platform.js';
import type { WebhookPolicy } from '../../../src/core/webhooks.js';
import type { Workflow } from '../../../src/core/workflow.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { allWorkflows, parseOrganisation } from '../../../src/workflows/index.js';
import { RecordingPort } from '../../helpers/recording-port.js';
import { exampleConfig } from '../incident/incident.fakes.js';

export { messageText, RecordingPort, type PortCall } from '../../helpers/recording-port.js';
export { exampleConfig, replyText } from '../incident/incident.fakes.js';

/** Monday 5 January 2026, 10:00 in Berlin. */
export const START = '2026-01-05T09:00:00Z';
export const API_TOKEN = 'request-test-token-0123456789';
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const CONSOLE: Where = { platform: 'console', channel: 'console', name: 'console' };

/** A small organisation for approval rules: people, teams, a schedule, and one catalog item per policy. */
export const RULES_YAML = `
organisation: Rules
timezone: Europe/Berlin
people:
  - { id: alice, name: Alice Admin, roles: [admin, responder] }
  - { id: bob, name: Bob Fixer, roles: [responder] }
  - { id: carol, name: Carol Boss }
  - { id: dave, name: Dave Asker, manager: carol }
  - { id: erin, name: Erin Second, manager: carol }
  - { id: frank, name: Frank Third }
  - { id: gina, name: Gina Fallback }
teams:
  - { id: approvers, members: [carol, erin, frank] }
  - { id: fixers, members: [bob] }
services:
  - { name: crm, owners: [frank] }
schedules:
  - name: duty
    layers: [{ people: [erin, frank], start: 2026-01-05, handoff: "09:00", length: daily }]
approvalPolicies:
  - { name: any-manager, stages: [{ approvers: [{ manager: true }] }], expireAfter: 3d, remindAfter: 4h, remindEvery: 1d }
  - { name: all-team, stages: [{ approvers: [{ team: approvers }], rule: all }] }
  - { name: two-of-team, stages: [{ approvers: [{ team: approvers }], rule: { n: 2 } }] }
  - name: two-stages
    stages:
      - { approvers: [{ manager: true }] }
      - { approvers: [{ owners: true }, { schedule: duty }], rule: all }
  - { name: self-ok, stages: [{ approvers: [{ team: approvers }] }], allowSelfApproval: true }
  - name: escalating
    stages: [{ approvers: [{ person: frank }], escalateAfter: 8h, fallback: [{ person: gina }] }]
    expireAfter: 2d
    remindAfter: 2h
    remindEvery: 5h
catalog:
  - { name: any, title: Any item, service: crm, approvalPolicy: any-manager, fields: [{ id: reason, label: Reason, type: text, required: true }], fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: all, title: All item, approvalPolicy: all-team, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: two, title: Two item, approvalPolicy: two-of-team, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: staged, title: Staged item, service: crm, approvalPolicy: two-stages, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: self, title: Self item, approvalPolicy: self-ok, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: slow, title: Slow item, approvalPolicy: escalating, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: free, title: Free item, fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
  - { name: internal, title: Internal item, visibleTo: [fixers], fulfilment: { team: fixers, tasks: [{ title: Do it }] } }
`;

/** The rules organisation, parsed. */
export function rulesConfig(): OrgConfig {
  return parseOrganisation(RULES_YAML, 'rules.yaml', {});
}

/** Options for a test tread. */
export interface RequestTreadOptions {
  clock?: ManualClock;
  config?: OrgConfig;
  http?: boolean;
  /** More workflows beside the registered ones (a stand-in of another workflow). */
  extraWorkflows?: Workflow[];
  /** Replace the registered workflows entirely. */
  workflows?: Workflow[];
  webhookPolicy?: WebhookPolicy;
  publicUrl?: string;
}

/** A tread with a recording console port, a manual clock and no cron (tests call `tick()`). */
export async function startRequestTread(database: Database, options: RequestTreadOptions = {}) {
  const clock = options.clock ?? new ManualClock(new Date(START));
  const port = new RecordingPort('console');
  const adapters: PlatformAdapter[] = [{ platform: 'console', port }];
  const config = options.config ?? exampleConfig();
  const tread: Tread = await startTread({
    database, config, clock, tickSeconds: 0, platforms: () => adapters, apiToken: API_TOKEN,
    workflows: options.workflows ?? [...allWorkflows, ...(options.extraWorkflows ?? [])],
    ...(options.http ? { http: { host: '127.0.0.1', port: 0 } } : {}),
    ...(options.webhookPolicy ? { webhookPolicy: options.webhookPolicy } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
  });
  let seq = 0;
  const send = async (actor: string, inbound: { kind: 'command'; name: string; text: string } | { kind: 'action'; actionId: string; value: string; formValues?: Record<string, string> }, where: Where = CONSOLE): Promise<Reply> => {
    const full = { ...inbound, actor: { platform: where.platform, id: actor }, where, deliveryId: `r${process.pid}-${randomBytes(4).toString('hex')}-${++seq}` } as Inbound;
    const reply = await tread.router.handle(full);
    await tread.scheduler.tick();
    await tread.dispatcher.flush();
    return reply;
  };
  /** A command typed by a person: `/request laptop …`. */
  const command = (actor: string, text: string) => {
    const m = /^\/?(\S+)\s*([\s\S]*)$/.exec(text)!;
    return send(actor, { kind: 'command', name: m[1]!, text: m[2] ?? '' });
  };
  /** A button press or form submission. */
  const press = (actor: string, actionId: string, value: string, formValues?: Record<string, string>) =>
    send(actor, { kind: 'action', actionId, value, ...(formValues ? { formValues } : {}) });
  const tick = async () => {
    await tread.scheduler.tick();
    await tread.dispatcher.flush();
  };
  const advance = async (ms: number) => {
    clock.advance(ms);
    await tick();
  };
  const api = async (method: string, path: string, body?: unknown, token = API_TOKEN) => {
    const res = await fetch(`http://127.0.0.1:${tread.port}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    const out = { status: res.status, body: text ? JSON.parse(text) : undefined };
    await tread.scheduler.tick();
    await tread.dispatcher.flush();
    return out;
  };
  return { tread, clock, port, config, send, command, press, tick, advance, api, db: tread.app.db, database };
}

/** The test tread type. */
export type RequestTestTread = Awaited<ReturnType<typeof startRequestTread>>;

/** A stored request. */
export async function requestRow(t: RequestTestTread, id: number) {
  const [row] = await t.db.select().from(schema.requests).where(eq(schema.requests.id, id));
  return row!;
}

/** The newest request's id (0 when none). */
export async function lastRequestId(t: RequestTestTread): Promise<number> {
  const [row] = await queryRows<{ id: number | null }>(t.db, sql`select max(id)::int as id from requests`);
  return Number(row?.id ?? 0);
}

/** The newest approval's id. */
export async function lastApprovalId(t: RequestTestTread): Promise<number> {
  const [row] = await queryRows<{ id: number | null }>(t.db, sql`select max(id)::int as id from approvals`);
  return Number(row?.id ?? 0);
}

/** Row counts of the request and approval tables. */
export async function counts(t: RequestTestTread) {
  const [row] = await queryRows<{ requests: number; approvals: number; decisions: number; tasks: number }>(t.db, sql`select
    (select count(*)::int from requests) as requests, (select count(*)::int from approvals) as approvals,
    (select count(*)::int from approval_decisions) as decisions, (select count(*)::int from request_tasks) as tasks`);
  return { requests: Number(row!.requests), approvals: Number(row!.approvals), decisions: Number(row!.decisions), tasks: Number(row!.tasks) };
}

/** The tasks of a request in order. */
export async function tasksOfRequest(t: RequestTestTread, id: number) {
  return t.db.select().from(schema.requestTasks).where(eq(schema.requestTasks.requestId, id)).orderBy(asc(schema.requestTasks.position));
}

/** An approval row. */
export async function approvalRow(t: RequestTestTread, id: number) {
  const [row] = await t.db.select().from(schema.approvals).where(eq(schema.approvals.id, id));
  return row!;
}

/** Audit rows of a subject (or of every subject), oldest first. */
export async function auditOf(t: RequestTestTread, subject?: string) {
  return t.db.select().from(schema.auditLog).where(subject ? eq(schema.auditLog.subject, subject) : undefined).orderBy(asc(schema.auditLog.seq));
}

/** The chat message rows of a subject. */
export async function cardsOf(t: RequestTestTread, subject: string, purpose = 'dm') {
  return t.db.select().from(schema.chatMessages).where(and(eq(schema.chatMessages.subject, subject), eq(schema.chatMessages.purpose, purpose)));
}

/** Timers of a subject, keyed. */
export async function timersOf(t: RequestTestTread, subject: string) {
  const rows = await t.db.select().from(schema.timers).where(eq(schema.timers.subject, subject)).orderBy(asc(schema.timers.dueAt));
  return Object.fromEntries(rows.map((r) => [r.key ?? `${r.kind}#${r.id}`, r]));
}
