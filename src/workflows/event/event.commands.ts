/** The chat surface of event management: `/event …` and the alert card's buttons. */
import { and, desc, eq, sql } from 'drizzle-orm';
import { schema } from '../../../db/client.js';
import { Args, helpMessage } from '../../core/commands.js';
import { subjectsAt } from '../../core/delivery/cards.js';
import { parseDuration } from '../../core/duration.js';
import { badInput } from '../../core/errors.js';
import type { ActionInbound, CommandInbound, Reply, Where } from '../../core/inbound.js';
import { requirePermission } from '../../core/permissions.js';
import { formatTime } from '../../core/time-zone.js';
import type { ActionSpec, CommandSpec, HandlerContext } from '../../core/workflow.js';
import type { Actor } from '../../core/identity.js';
import { ALERT_STATES } from './event.machine.js';
import { looksLikeMatcher, parseMatcher, type Matcher } from './event.match.js';
import { alertDetail, alertList, groupSubject, silenceLine } from './event.messages.js';
import {
  createSilence, currentGroupCard, endSilence, escalateGroup, getAlert, getGroup, groupMatchers, humanChange, knownAlertService, listAlerts, listSilences, openIncidentFor, unknownServiceIssue,
  parseTarget, targetLabel, type ActionResult, type Target,
} from './event.service.js';

const USAGE = [
  '/event list [service] [firing|acknowledged|silenced|flapping|resolved|all]',
  '/event show ALR-n | GRP-n',
  '/event ack ALR-n | GRP-n',
  '/event resolve ALR-n | GRP-n [note]',
  '/event silence <matchers> <duration> <reason>   e.g. /event silence service=db alertname=DiskFull 2h disk replaced tonight',
  '/event silences',
  '/event unsilence SIL-n',
  '/event incident GRP-n',
  '/event escalate GRP-n',
];

const SILENCE_USAGE = 'Write it as `/event silence <matchers> <duration> <reason>`, for example `/event silence service=db alertname=DiskFull 2h disk replaced tonight`.';

function ephemeral(text: string, tone: 'info' | 'warning' | 'good' = 'info'): Reply {
  return { kind: 'ephemeral', message: { text, tone } };
}

/** The record a command names, or the group whose card's thread or channel it was typed in. */
async function targetFrom(ctx: HandlerContext, word: string | undefined, where: Where, verb: string): Promise<Target> {
  const parsed = parseTarget(word);
  if (parsed) return parsed;
  if (!word) {
    const here = await subjectsAt(ctx, where, 'GRP-');
    if (here.length === 1) return parseTarget(here[0])!;
  }
  throw badInput('event.bad_id', `${word ? `"${word}" is not an alert or group id. ` : ''}Name what to ${verb}: \`/event ${verb} ALR-7\` or \`/event ${verb} GRP-3\`.`, [{ path: 'id', message: 'an id like ALR-7 or GRP-3' }]);
}

async function list(ctx: HandlerContext, args: Args): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'event.view');
  let service: string | undefined;
  let state: string = 'open';
  for (let w = args.next(); w !== undefined; w = args.next()) {
    const lower = w.toLowerCase();
    if ((ALERT_STATES as readonly string[]).includes(lower) || lower === 'all' || lower === 'open') state = lower;
    else if (service === undefined) service = lower;
    else throw badInput('event.bad_list', `"${w}" is neither a service nor a state. ${USAGE[0]}`);
  }
  if (service !== undefined && !(await knownAlertService(ctx.db, ctx, service))) {
    const issue = unknownServiceIssue(ctx, service);
    throw badInput('event.unknown_service', `There is no service "${service}": ${issue.message.replace(/^unknown service "[^"]*" /, '')}. ${USAGE[0]}`, [issue]);
  }
  const rows = await listAlerts(ctx.db, { service, states: state === 'all' ? undefined : [state], limit: 21 });
  const heading = `${state === 'open' ? 'Open alerts' : state === 'all' ? 'Alerts' : `Alerts ${state}`}${service ? ` of ${service}` : ''}`;
  return { kind: 'ephemeral', message: alertList(rows.slice(0, 20), heading, rows.length > 20) };
}

async function show(ctx: HandlerContext, word: string | undefined, where: Where): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'event.view');
  const t = await targetFrom(ctx, word, where, 'show');
  const now = ctx.clock.now();
  if (t.kind === 'group') {
    await getGroup(ctx.db, t.id);
    const card = await currentGroupCard(ctx, t.id);
    return { kind: 'ephemeral', message: card! };
  }
  const a = await getAlert(ctx.db, t.id);
  const history = await ctx.db.select({ at: schema.alertEvents.at, action: schema.alertEvents.action, actor: schema.alertEvents.actor })
    .from(schema.alertEvents).where(eq(schema.alertEvents.alertId, a.id)).orderBy(desc(schema.alertEvents.id)).limit(10);
  return { kind: 'ephemeral', message: alertDetail(a, history.reverse(), now, ctx.person.timezone ?? ctx.config.timezone) };
}

/** Splits `service=db alertname=DiskFull 2h disk replaced` into matchers, duration and reason. */
export function parseSilenceArgs(text: string): { matchers: Matcher[]; durationMs: number; reason: string } {
  const args = new Args(text);
  const matchers: Matcher[] = [];
  while (!args.done && looksLikeMatcher(args.peek()!)) {
    const m = parseMatcher(args.next()!);
    if (typeof m === 'string') throw badInput('event.bad_matcher', `${m}. ${SILENCE_USAGE}`, [{ path: 'matchers', message: m }]);
    matchers.push(m);
  }
  if (matchers.length === 0) throw badInput('event.silence_needs_matchers', `Say what to silence with at least one matcher. ${SILENCE_USAGE}`, [{ path: 'matchers', message: 'at least one matcher' }]);
  const word = args.next();
  const durationMs = word ? parseDuration(word) : undefined;
  if (!durationMs) throw badInput('event.bad_duration', `${word ? `"${word}" is not a duration` : 'Say how long'}: write it like 30m, 2h or 1d. ${SILENCE_USAGE}`, [{ path: 'duration', message: 'a duration like 2h' }]);
  const reason = args.rest();
  if (!reason) throw badInput('event.silence_needs_reason', `Give a reason, so others know why these alerts are quiet. ${SILENCE_USAGE}`, [{ path: 'reason', message: 'required' }]);
  return { matchers, durationMs, reason };
}

async function silences(ctx: HandlerContext): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'event.view', undefined, 'see silences');
  const rows = await listSilences(ctx);
  const now = ctx.clock.now();
  const tz = ctx.person.timezone ?? ctx.config.timezone;
  if (rows.length === 0) return ephemeral('No silences are in force.');
  return { kind: 'ephemeral', message: { title: 'Silences in force', text: rows.map((s) => `- ${silenceLine(s, now, tz)}`).join('\n') } };
}

function resultReply(r: ActionResult): Reply {
  return ephemeral(r.text, 'good');
}

async function handle(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
  const args = new Args(inbound.text);
  const sub = (args.next() ?? 'list').toLowerCase();
  const actor = { person: ctx.person, source: ctx.source };
  switch (sub) {
    case 'list':
    case 'ls':
      return list(ctx, args);
    case 'show':
      return show(ctx, args.next(), inbound.where);
    case 'ack':
    case 'acknowledge':
      return resultReply(await humanChange(ctx, await targetFrom(ctx, args.next(), inbound.where, 'ack'), 'ack', actor));
    case 'resolve': {
      const t = await targetFrom(ctx, parseTarget(args.peek()) ? args.next() : undefined, inbound.where, 'resolve');
      return resultReply(await humanChange(ctx, t, 'resolve', actor, args.rest() || undefined));
    }
    case 'silence': {
      const input = parseSilenceArgs(args.rest());
      const { silence, silenced } = await createSilence(ctx, input, actor);
      const tz = ctx.person.timezone ?? ctx.config.timezone;
      return ephemeral(`Silenced until ${formatTime(silence.endsAt, tz, ctx.clock.now())} as SIL-${silence.id}: ${silenced} open alert${silenced === 1 ? '' : 's'} now silenced; new matching alerts are stored and shown as silenced. End it early with \`/event unsilence SIL-${silence.id}\`.`, 'good');
    }
    case 'silences':
      return silences(ctx);
    case 'unsilence': {
      const word = args.next();
      const m = /^(?:SIL-|#)?(\d+)$/i.exec(word ?? '');
      if (!m) throw badInput('event.bad_silence_id', 'Name the silence: `/event unsilence SIL-3` (see `/event silences`).');
      const { lifted } = await endSilence(ctx, Number(m[1]), actor);
      return ephemeral(`SIL-${m[1]} ended; ${lifted} alert${lifted === 1 ? '' : 's'} notify again.`, 'good');
    }
    case 'incident':
      return resultReply(await openIncidentFor(ctx, await targetFrom(ctx, args.next(), inbound.where, 'incident'), actor));
    case 'escalate':
      return resultReply(await escalateGroup(ctx, await targetFrom(ctx, args.next(), inbound.where, 'escalate'), actor));
    default: {
      const asId = parseTarget(sub);
      if (asId && /^(alr|grp)-/i.test(sub)) return show(ctx, sub, inbound.where);
      return { kind: 'ephemeral', message: { ...helpMessage('/event: alerts from monitoring', USAGE, `I don't know "${sub}".`), tone: 'warning' } };
    }
  }
}

/** `/event`. */
export const eventCommand: CommandSpec = {
  name: 'event',
  summary: 'alerts from monitoring: list, show, acknowledge, resolve, silence',
  usage: USAGE,
  handle,
};

function buttonTarget(inbound: ActionInbound): Target {
  const t = parseTarget(inbound.value);
  if (!t) throw badInput('event.bad_button', `That button carries "${inbound.value}", which is not an alert or group id.`);
  return t;
}

async function cardReply(ctx: HandlerContext, r: ActionResult): Promise<Reply> {
  const card = r.groupId ? await currentGroupCard(ctx, r.groupId) : undefined;
  return card ? { kind: 'card', message: card, notice: { text: r.text, tone: 'good' } } : ephemeral(r.text, 'good');
}

const actor = (ctx: HandlerContext): Actor => ({ person: ctx.person, source: ctx.source });

/** The card's buttons. */
export const eventActions: Record<string, ActionSpec> = {
  'event.ack': { permission: 'event.ack', handle: async (inbound, ctx) => cardReply(ctx, await humanChange(ctx, buttonTarget(inbound), 'ack', actor(ctx))) },
  'event.resolve': { permission: 'event.resolve', handle: async (inbound, ctx) => cardReply(ctx, await humanChange(ctx, buttonTarget(inbound), 'resolve', actor(ctx))) },
  'event.silence': { permission: 'event.silence', handle: async (inbound, ctx) => {
    const t = buttonTarget(inbound);
    const groupId = t.kind === 'group' ? t.id : (await getAlert(ctx.db, t.id)).groupId;
    const matchers = groupId ? await groupMatchers(ctx.db, groupId) : [];
    if (matchers.length === 0) throw badInput('event.nothing_to_silence', `${targetLabel(t)} has no labels to silence by; use \`/event silence <matchers> 1h <reason>\`.`);
    const { silence, silenced } = await createSilence(ctx, { matchers, durationMs: 3_600_000, reason: `silenced from the card of ${groupId ? groupSubject(groupId) : targetLabel(t)} by ${ctx.person.name}` }, actor(ctx));
    return cardReply(ctx, { text: `SIL-${silence.id}: silenced for 1h (${silenced} alert${silenced === 1 ? '' : 's'})`, groupId: groupId ?? undefined });
  } },
  'event.incident': { permission: 'event.incident', handle: async (inbound, ctx) => cardReply(ctx, await openIncidentFor(ctx, buttonTarget(inbound), actor(ctx))) },
  'event.escalate': { permission: 'event.escalate', handle: async (inbound, ctx) => cardReply(ctx, await escalateGroup(ctx, buttonTarget(inbound), actor(ctx))) },
};

