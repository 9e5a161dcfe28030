/** The chat surface of on-call: `/oncall [team|schedule|service]`, `/oncall overrides …`, `/oncall override …`. */
import { Args, parseRecordId } from '../../core/commands.js';
import { badInput } from '../../core/errors.js';
import { directoryOf, resolvePersonToken } from '../../core/identity.js';
import type { CommandInbound, Reply } from '../../core/inbound.js';
import { enqueue } from '../../core/outbox.js';
import { requirePermission } from '../../core/permissions.js';
import type { CommandSpec, HandlerContext } from '../../core/workflow.js';
import { onCallMessage, overridesMessage, type NameOf } from './oncall.messages.js';
import type { Schedule } from './oncall.schedule.js';
import { createOverride, listOverrides, onCallAt, removeOverride, requireSchedule, schedulesOf } from './oncall.service.js';
import { formatInZone } from '../../core/time-zone.js';
import { parseWhen } from './oncall.time.js';

/** Usage lines for `/oncall help`. */
export const ONCALL_USAGE = [
  '/oncall   (every schedule: who is on call now and next)',
  '/oncall <schedule | team | service>',
  '/oncall overrides <schedule>',
  '/oncall override <schedule> <person> <from> <to>   (from/to: now, +2h, 2026-12-01T09:00; a "+" end counts from the start)',
  '/oncall override remove <schedule> <#>',
];

/** The reader's time zone: theirs, else the organisation's. */
function readerZone(ctx: HandlerContext): string {
  return ctx.person.timezone ?? ctx.config.timezone;
}

function nameOf(ctx: HandlerContext): NameOf {
  const dir = directoryOf(ctx.config);
  return (id) => dir.get(id)?.name ?? id;
}

/** Schedules a word names: a schedule, the schedules of a team, or those a service pages. */
export function schedulesFor(ctx: Pick<HandlerContext, 'config'>, word: string): { schedules: Schedule[]; heading: string } {
  const all = schedulesOf(ctx);
  const w = word.trim().toLowerCase();
  const schedule = all.find((s) => s.name === w);
  if (schedule) return { schedules: [schedule], heading: `On call: ${schedule.title}` };
  const team = ctx.config.teams.find((t) => t.id === w);
  if (team) {
    const mine = all.filter((s) => s.team === team.id);
    if (mine.length === 0) throw badInput('oncall.no_team_schedule', `Team ${team.name ?? team.id} has no on-call schedule (give a schedule \`team: ${team.id}\` in the config).`);
    return { schedules: mine, heading: `On call for team ${team.name ?? team.id}` };
  }
  const service = ctx.config.services.find((s) => s.name === w);
  if (service) {
    const policy = ctx.config.escalationPolicies.find((p) => p.name === service.escalationPolicy);
    const names = new Set(policy?.steps.flatMap((st) => st.targets.flatMap((t) => (t.kind === 'schedule' ? [t.schedule] : [])) ) ?? []);
    const mine = all.filter((s) => names.has(s.name) || (service.team !== undefined && s.team === service.team));
    if (mine.length === 0) throw badInput('oncall.no_service_schedule', `Service ${service.name} pages no on-call schedule.`);
    return { schedules: mine, heading: `On call for service ${service.name}` };
  }
  const known = [...all.map((s) => s.name), ...ctx.config.teams.filter((t) => all.some((s) => s.team === t.id)).map((t) => t.id)];
  throw badInput('oncall.unknown_schedule', `"${word}" is not a schedule, team or service. ${known.length ? `Try one of: ${known.join(', ')}.` : 'The config defines no on-call schedules yet.'}`);
}

async function show(ctx: HandlerContext, word: string | undefined): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'oncall.view');
  const { schedules, heading } = word ? schedulesFor(ctx, word) : { schedules: schedulesOf(ctx), heading: 'On call now' };
  if (schedules.length === 0) return { kind: 'ephemeral', message: { text: 'The config defines no on-call schedules yet (see `schedules:` in the organisation file).', tone: 'info' } };
  const now = ctx.clock.now();
  const entries = await Promise.all(schedules.map((s) => onCallAt(ctx.db, s, now)));
  return { kind: 'ephemeral', message: onCallMessage(entries, nameOf(ctx), readerZone(ctx), heading) };
}

async function overrides(ctx: HandlerContext, args: Args): Promise<Reply> {
  requirePermission(ctx, ctx.person, 'oncall.view', undefined, 'see on-call overrides');
  const name = args.next();
  if (!name) throw badInput('oncall.schedule_required', 'Which schedule? Write: /oncall overrides <schedule>');
  const schedule = requireSchedule(ctx, name);
  const rows = await listOverrides(ctx.db, schedule.name, ctx.clock.now());
  return { kind: 'ephemeral', message: overridesMessage(schedule.name, rows, nameOf(ctx), readerZone(ctx)) };
}

const OVERRIDE_USAGE = '/oncall override <schedule> <person> <from> <to>, for example `/oncall override payments-primary @bob now +8h` or `/oncall override payments-primary bob 2026-12-01T09:00 2026-12-02T09:00`';

async function override(ctx: HandlerContext, args: Args, inbound: CommandInbound): Promise<Reply> {
  if (args.peek()?.toLowerCase() === 'remove' || args.peek()?.toLowerCase() === 'delete') {
    args.next();
    return remove(ctx, args);
  }
  requirePermission(ctx, ctx.person, 'oncall.override');
  const [scheduleWord, personWord, fromWord, toWord] = [args.next(), args.next(), args.next(), args.next()];
  if (!scheduleWord || !personWord || !fromWord || !toWord) throw badInput('oncall.override_usage', `Give the schedule, the person, the start and the end: ${OVERRIDE_USAGE}`);
  if (!args.done) throw badInput('oncall.override_usage', `I did not expect "${args.rest()}" at the end. ${OVERRIDE_USAGE}`);
  const schedule = requireSchedule(ctx, scheduleWord);
  const person = await resolvePersonToken(ctx, personWord, inbound.where.platform);
  const zone = readerZone(ctx);
  const now = ctx.clock.now();
  const from = parseWhen(fromWord, { now, timeZone: zone, field: 'from' });
  const to = parseWhen(toWord, { now, base: from, timeZone: zone, field: 'to' });
  const row = await ctx.db.transaction(async (tx) => {
    const created = await createOverride(tx, ctx, { schedule: schedule.name, person, from, to }, { person: ctx.person, source: ctx.source }, now);
    if (person.id !== ctx.person.id) {
      const theirZone = person.timezone ?? ctx.config.timezone;
      await enqueue(tx, {
        kind: 'dm', person: person.id,
        message: { text: `${ctx.person.name} put you on call for *${schedule.title}* from ${formatInZone(from, theirZone)} to ${formatInZone(to, theirZone)} (override #${created.id}).`, tone: 'info' },
      });
    }
    return created;
  });
  return {
    kind: 'ephemeral',
    message: { text: `Override #${row.id}: *${person.name}* is on call for *${schedule.title}* from ${formatInZone(from, zone)} to ${formatInZone(to, zone)}.`, tone: 'good' },
  };
}

async function remove(ctx: HandlerContext, args: Args): Promise<Reply> {
  const usage = '/oncall override remove <schedule> <#>';
  const scheduleWord = args.next();
  const idWord = args.next();
  const id = parseRecordId('OVR', idWord);
  if (!scheduleWord || id === undefined) throw badInput('oncall.remove_usage', `Give the schedule and the override number: ${usage} (numbers are listed by /oncall overrides <schedule>).`);
  const now = ctx.clock.now();
  const row = await ctx.db.transaction((tx) => removeOverride(tx, ctx, scheduleWord, id, { person: ctx.person, source: ctx.source }, now));
  return { kind: 'ephemeral', message: { text: `Override #${row.id} of ${row.schedule} removed.`, tone: 'good' } };
}

/** `/oncall`. */
export const oncallCommand: CommandSpec = {
  name: 'oncall',
  summary: 'who is on call now and next; on-call overrides',
  usage: ONCALL_USAGE,
  async handle(inbound, ctx) {
    const args = new Args(inbound.text);
    const first = args.peek()?.toLowerCase();
    if (first === undefined || first === 'list') {
      args.next();
      return show(ctx, undefined);
    }
    if (first === 'overrides') {
      args.next();
      return overrides(ctx, args);
    }
    if (first === 'override') {
      args.next();
      return override(ctx, args, inbound);
    }
    const word = args.next()!;
    if (!args.done) throw badInput('oncall.usage', `Name one schedule, team or service, like /oncall payments-primary. Type /oncall help for more.`);
    return show(ctx, word);
  },
};
