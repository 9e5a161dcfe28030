/** The `schedules` and `escalationPolicies` sections of the organisation file (zod), with their cross-checks. */
import { z } from 'zod';
import { channelSchema, idSchema, timezoneSchema, type ChannelConfig } from '../../core/config/schemas.js';
import type { OrgConfig } from '../../core/config/org.js';
import type { ConfigSection } from '../../core/workflow.js';
import { durationSchema, parseDuration } from '../../core/duration.js';
import { parseLocalDate, parseTimeOfDay } from '../../core/time-zone.js';

const name = idSchema;
const personId = z.string().min(1);
const timeOfDay = z.string().refine((t) => parseTimeOfDay(t) !== undefined, 'write a time as HH:MM (24-hour)');
const timezone = timezoneSchema;
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** A rotation length: `daily`, `weekly`, or a duration (`12h`, `2d`, `2w`). Whole days keep the wall-clock handoff across DST. */
const lengthSchema = z.string().transform((value, ctx) => {
  const v = value.trim().toLowerCase();
  if (v === 'daily') return { days: 1 } as RotationLength;
  if (v === 'weekly') return { days: 7 } as RotationLength;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a rotation length: write daily, weekly, or a duration like 12h, 2d or 2w` });
    return z.NEVER;
  }
  if (ms < 3_600_000) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is too short for a rotation: at least 1h` });
    return z.NEVER;
  }
  return (ms % 86_400_000 === 0 ? { days: ms / 86_400_000 } : { ms }) as RotationLength;
});

/** A rotation length: whole local days, or a fixed number of milliseconds. */
export type RotationLength = { days: number; ms?: undefined } | { ms: number; days?: undefined };

/** A window of the week in which a layer applies (`from` > `to` crosses midnight). */
const restrictionSchema = z.object({
  days: z.array(z.enum(WEEKDAYS)).min(1).default([...WEEKDAYS]),
  from: timeOfDay,
  /** `24:00` is the end of the day. */
  to: z.string().refine((t) => t === '24:00' || parseTimeOfDay(t) !== undefined, 'write a time as HH:MM (24-hour; 24:00 for the end of the day)'),
}).refine((r) => r.from !== r.to, { message: 'from and to must differ (write 00:00 to 24:00 for a whole day)', path: ['to'] });

const layerSchema = z.object({
  name: z.string().min(1).optional(),
  /** People in rotation order (person ids). */
  people: z.array(personId).min(1, 'a layer needs at least one person'),
  /** Day the first person's first shift starts (at the handoff time). */
  start: z.string().refine((s) => parseLocalDate(s) !== undefined, 'write the start date as YYYY-MM-DD'),
  handoff: timeOfDay.default('09:00'),
  length: lengthSchema.default(() => ({ days: 7 }) as RotationLength),
  /** Zone of the handoff and restrictions; defaults to the schedule's, then the organisation's. */
  timezone: timezone.optional(),
  /** When set, the layer only covers these windows; outside them earlier layers apply. */
  restrictions: z.array(restrictionSchema).optional(),
});

/** An on-call schedule: layers of rotations; a later layer overrides earlier ones wherever it has coverage. */
export const scheduleSchema = z.object({
  name,
  /** A title for people; defaults to the name. */
  title: z.string().min(1).optional(),
  /** The team the schedule belongs to (`/oncall <team>`). */
  team: name.optional(),
  timezone: timezone.optional(),
  layers: z.array(layerSchema).min(1, 'a schedule needs at least one layer'),
});

const targetSchema = z.object({
  schedule: name.optional(),
  person: personId.optional(),
  channel: channelSchema.optional(),
}).refine((t) => [t.schedule, t.person, t.channel].filter((x) => x !== undefined).length === 1,
  'a target is exactly one of schedule, person or channel');

const waitSchema = z.union([
  z.number().positive().max(24 * 60).transform((minutes) => Math.round(minutes * 60_000)),
  durationSchema,
]);

const stepSchema = z.object({
  schedule: name.optional(),
  person: personId.optional(),
  channel: channelSchema.optional(),
  /** Several targets paged together. */
  notify: z.array(targetSchema).min(1).optional(),
  /** How long to wait for an acknowledgement before the next step (minutes, or a duration like 15m). */
  wait: waitSchema.default(15 * 60_000),
}).superRefine((s, ctx) => {
  const n = [s.schedule, s.person, s.channel, s.notify].filter((x) => x !== undefined).length;
  if (n === 0) ctx.addIssue({ code: 'custom', message: 'a step notifies someone: give schedule, person, channel or notify' });
  if (n > 1) ctx.addIssue({ code: 'custom', message: 'give only one of schedule, person, channel or notify (use notify: [...] for several)' });
}).transform((s) => ({
  targets: (s.notify ?? [{ schedule: s.schedule, person: s.person, channel: s.channel }]).map(toTarget),
  waitMs: s.wait,
}));

function toTarget(t: { schedule?: string; person?: string; channel?: ChannelConfig }): EscalationTarget {
  if (t.schedule !== undefined) return { kind: 'schedule', schedule: t.schedule };
  if (t.person !== undefined) return { kind: 'person', person: t.person };
  return { kind: 'channel', channel: t.channel! };
}

/** An escalation policy: ordered steps, the whole list repeated `repeat` more times while nobody acknowledges. */
export const escalationPolicySchema = z.object({
  name,
  steps: z.array(stepSchema).min(1, 'a policy needs at least one step'),
  /** How many more times to run through the steps after the first pass (0: once). */
  repeat: z.number().int().min(0).max(9).default(0),
});

export type { ChannelConfig };
/** Who or what a step notifies. */
export type EscalationTarget =
  | { kind: 'schedule'; schedule: string }
  | { kind: 'person'; person: string }
  | { kind: 'channel'; channel: ChannelConfig };
export type ScheduleConfig = z.infer<typeof scheduleSchema>;
export type LayerConfig = ScheduleConfig['layers'][number];
export type EscalationPolicyConfig = z.infer<typeof escalationPolicySchema>;
export type EscalationStep = EscalationPolicyConfig['steps'][number];

const shape = {
  schedules: z.array(scheduleSchema).default([]),
  escalationPolicies: z.array(escalationPolicySchema).default([]),
};

/** The parsed on-call sections. */
export type OncallConfig = z.infer<z.ZodObject<typeof shape>>;

declare module '../../core/config/org.js' {
  interface OrgSections extends OncallConfig {}
}

/** Cross-checks: unique names, known people, teams, schedules and policies. Issues name the path inside the file. */
function checkOncallConfig(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const personIds = new Set(org.people.map((p) => p.id));
  const teamIds = new Set(org.teams.map((t) => t.id));
  const scheduleNames = new Set<string>();
  org.schedules.forEach((s, i) => {
    if (scheduleNames.has(s.name)) issue(['schedules', i, 'name'], `duplicate schedule "${s.name}"`);
    scheduleNames.add(s.name);
    if (s.team && !teamIds.has(s.team)) issue(['schedules', i, 'team'], `unknown team "${s.team}" (not in teams)`);
    s.layers.forEach((l, j) => l.people.forEach((p, k) => {
      if (!personIds.has(p)) issue(['schedules', i, 'layers', j, 'people', k], `unknown person "${p}" (not in people)`);
    }));
  });
  const policyNames = new Set<string>();
  org.escalationPolicies.forEach((policy, i) => {
    if (policyNames.has(policy.name)) issue(['escalationPolicies', i, 'name'], `duplicate escalation policy "${policy.name}"`);
    policyNames.add(policy.name);
    policy.steps.forEach((step, j) => step.targets.forEach((t, k) => {
      const path = step.targets.length > 1 ? ['escalationPolicies', i, 'steps', j, 'notify', k] : ['escalationPolicies', i, 'steps', j];
      if (t.kind === 'schedule' && !scheduleNames.has(t.schedule)) issue([...path, 'schedule'], `unknown schedule "${t.schedule}" (not in schedules)`);
      if (t.kind === 'person' && !personIds.has(t.person)) issue([...path, 'person'], `unknown person "${t.person}" (not in people)`);
    }));
  });
  org.services.forEach((s, i) => {
    if (s.escalationPolicy && !policyNames.has(s.escalationPolicy)) {
      issue(['services', i, 'escalationPolicy'], `unknown escalation policy "${s.escalationPolicy}" (not in escalationPolicies)`);
    }
  });
}

/** The on-call workflow's sections of the organisation file: `schedules` and `escalationPolicies`. */
export const oncallConfig: ConfigSection = { shape, check: checkOncallConfig };
