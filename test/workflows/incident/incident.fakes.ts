/** Test doubles for the incident tests: recording chat ports, the bundled example organisation, and a runtime on a manual clock. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { and, asc, eq } from 'drizzle-orm';
import { schema, type Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { exampleConfigPath, type OrgConfig } from '../../../src/core/config/org.js';
import { allWorkflows, parseOrganisation } from '../../../src/workflows/index.js';
import type { Workflow } from '../../../src/core/workflow.js';
import type { Inbound, Reply, Where } from '../../../src/core/inbound.js';
import type { PlatformAdapter } from '../../../src/core/platform.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { messageText, RecordingPort } from '../../helpers/recording-port.js';

export { messageText, RecordingPort, type PortCall } from '../../helpers/recording-port.js';

/** The text of a reply (title, text and fields), for assertions. */
export function replyText(reply: Reply): string {
  const m = reply.kind === 'ephemeral' || reply.kind === 'card' ? reply.message : reply.kind === 'form' || reply.kind === 'form_errors' ? reply.form : undefined;
  return messageText(m);
}

/** The bundled example organisation (tread.example.yaml), as shipped. */
export function exampleConfig(): OrgConfig {
  return parseOrganisation(readFileSync(exampleConfigPath(), 'utf8'), 'tread.example.yaml', {});
}

/** Monday 5 January 2026, 10:00 in Berlin (the example organisation's time zone). */
export const START = '2026-01-05T09:00:00Z';
export const API_TOKEN = 'incident-test-token-0123456789';
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** Where console commands are typed. */
export const CONSOLE: Where = { platform: 'console', channel: 'console', name: 'console' };

/** Options for a test tread. */
export interface TestTreadOptions {
  clock?: ManualClock;
  config?: OrgConfig;
  http?: boolean;
  apiToken?: string | null;
  /** Also run a recording Slack port (the example's checkout service posts to Slack channel C0CHECKOUT). */
  slack?: boolean;
  /** The console port can create channels. */
  channels?: boolean;
  /** More workflows beside every registered one (listeners in seam tests). */
  extraWorkflows?: Workflow[];
  /** Registered workflows left out, by name. */
  without?: string[];
}

/** A tread with recording ports, a manual clock and no cron (tests call `scheduler.tick()`). */
export async function startIncidentTread(database: Database, options: TestTreadOptions = {}) {
  const clock = options.clock ?? new ManualClock(new Date(START));
  const port = new RecordingPort('console', options.channels ?? false);
  const slack = new RecordingPort('slack', true);
  const adapters: PlatformAdapter[] = [{ platform: 'console', port }, ...(options.slack ? [{ platform: 'slack' as const, port: slack }] : [])];
  const config = options.config ?? exampleConfig();
  const tread: Tread = await startTread({
    database, config, clock, tickSeconds: 0, platforms: () => adapters,
    ...(options.extraWorkflows || options.without ? { workflows: [...allWorkflows.filter((w) => !options.without?.includes(w.name)), ...(options.extraWorkflows ?? [])] } : {}),
    apiToken: options.apiToken === null ? undefined : (options.apiToken ?? API_TOKEN),
    ...(options.http ? { http: { host: '127.0.0.1', port: 0 } } : {}),
  });
  let seq = 0;
  /** Sends an inbound as a person and returns the reply, after the outbox was sent. */
  const send = async (actor: string, inbound: { kind: 'command'; name: string; text: string } | { kind: 'action'; actionId: string; value: string; formValues?: Record<string, string> }, where: Where = CONSOLE): Promise<Reply> => {
    const actorId = where.platform === 'slack' ? (config.people.find((p) => p.id === actor)?.slack ?? actor) : actor;
    const full = { ...inbound, actor: { platform: where.platform, id: actorId }, where, deliveryId: `t${process.pid}-${randomBytes(4).toString('hex')}-${++seq}` } as Inbound;
    const reply = await tread.router.handle(full);
    await tread.dispatcher.flush();
    return reply;
  };
  /** `/incident …` typed by a person (in the console unless `where` says otherwise). */
  const command = (actor: string, text: string, where?: Where) => {
    const m = /^\/?(\S+)\s*([\s\S]*)$/.exec(text)!;
    return send(actor, { kind: 'command', name: m[1]!, text: m[2] ?? '' }, where);
  };
  /** A button press or form submission. */
  const press = (actor: string, actionId: string, value: string, formValues?: Record<string, string>, where?: Where) =>
    send(actor, { kind: 'action', actionId, value, ...(formValues ? { formValues } : {}) }, where);
  /** Runs due timers at the clock's time and sends what they wrote. */
  const tick = () => tread.scheduler.tick();
  /** Moves the clock and ticks. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await tick();
  };
  return { tread, clock, port, slack, config, send, command, press, tick, advance, db: tread.app.db };
}

/** The test tread type. */
export type IncidentTestTread = Awaited<ReturnType<typeof startIncidentTread>>;

/** The stored incident. */
export async function incidentRow(t: IncidentTestTread, id: number) {
  const [row] = await t.db.select().from(schema.incidents).where(eq(schema.incidents.id, id));
  return row!;
}

/** Outbox rows of a subject, oldest first. */
export async function outboxOf(t: IncidentTestTread, subject: string) {
  const rows = await t.db.select().from(schema.outbox).where(eq(schema.outbox.orderKey, subject)).orderBy(asc(schema.outbox.id));
  return rows.map((r) => ({ ...r, payload: r.payload as Record<string, any> }));
}

/** Audit rows of a subject, oldest first. */
export async function auditOf(t: IncidentTestTread, subject: string) {
  return t.db.select().from(schema.auditLog).where(eq(schema.auditLog.subject, subject)).orderBy(asc(schema.auditLog.seq));
}

/** Timeline entries of a subject, oldest first. */
export async function timelineOf(t: IncidentTestTread, subject: string) {
  return t.db.select().from(schema.timeline).where(eq(schema.timeline.subject, subject)).orderBy(asc(schema.timeline.id));
}

/** Pending timers of a subject by key. */
export async function timersOf(t: IncidentTestTread, subject: string) {
  const rows = await t.db.select().from(schema.timers).where(eq(schema.timers.subject, subject)).orderBy(asc(schema.timers.dueAt));
  return Object.fromEntries(rows.map((r) => [r.key ?? `${r.kind}#${r.id}`, r]));
}

/** The chat message rows (cards, channels) of a subject. */
export async function cardsOf(t: IncidentTestTread, subject: string, purpose = 'card') {
  return t.db.select().from(schema.chatMessages).where(and(eq(schema.chatMessages.subject, subject), eq(schema.chatMessages.purpose, purpose)));
}

/** The id of the newest incident. */
export async function lastIncidentId(t: IncidentTestTread): Promise<number> {
  const rows = await t.db.select({ id: schema.incidents.id }).from(schema.incidents);
  return Math.max(0, ...rows.map((r) => r.id));
}
