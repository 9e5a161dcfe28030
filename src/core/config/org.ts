/** The organisation file (YAML): people, teams, services, SLA targets, business hours, workflow settings. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { idSchema, timeOfDaySchema, timezoneSchema } from './schemas.js';
import { durationSchema } from '../duration.js';
import { checkOncallConfig, oncallSections } from '../../workflows/oncall/oncall.config.js';
import { checkEventConfig, eventConfigShape } from '../../workflows/event/event.config.js';

const id = idSchema;
const timeOfDay = timeOfDaySchema;
const timezone = timezoneSchema;

/** Roles a person can hold; `requester` is everyone's. */
export const ROLES = ['admin', 'responder', 'approver', 'requester'] as const;
export type Role = (typeof ROLES)[number];

const personSchema = z.object({
  id,
  name: z.string().min(1),
  email: z.email().optional(),
  slack: z.string().regex(/^[UW][A-Z0-9]+$/, 'a Slack user id looks like U012AB3CD').optional(),
  teams: z.string().min(1).optional(),
  timezone: timezone.optional(),
  roles: z.array(z.enum(ROLES)).default([]),
});

const teamSchema = z.object({
  id,
  name: z.string().min(1).optional(),
  members: z.array(id).default([]),
});

const serviceSchema = z.object({
  name: id,
  description: z.string().optional(),
  team: id.optional(),
  owners: z.array(id).default([]),
  slack: z.object({ channel: z.string().min(1) }).optional(),
  teams: z.object({ team: z.string().min(1), channel: z.string().min(1) }).optional(),
  console: z.object({ channel: z.string().min(1) }).optional(),
  /** Escalation policy name used when this service pages (event management). */
  escalationPolicy: z.string().optional(),
});

const slaTargetSchema = z.object({
  response: durationSchema,
  resolution: durationSchema,
  businessHours: z.boolean().default(false),
});

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const businessHoursSchema = z.object({
  timezone: timezone.optional(),
  days: z.array(z.enum(WEEKDAYS)).min(1, 'name at least one business day').default(['mon', 'tue', 'wed', 'thu', 'fri']),
  start: timeOfDay.default('09:00'),
  end: timeOfDay.default('17:00'),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'write a date as YYYY-MM-DD')).default([]),
}).refine((b) => b.start < b.end, { message: 'start must be before end', path: ['end'] });

const DEFAULT_SLA = {
  P1: { response: '15m', resolution: '4h' },
  P2: { response: '30m', resolution: '8h' },
  P3: { response: '30m', resolution: '1d' },
  P4: { response: '4h', resolution: '3d' },
  P5: { response: '1d', resolution: '5d' },
};

const incidentSettingsSchema = z.object({
  autoCloseAfter: durationSchema.default(3 * 86_400_000),
  statusUpdateEvery: durationSchema.default(30 * 60_000),
  /** Where new incidents are announced when no service channel applies, per platform. */
  announce: z.object({ slack: z.string().optional(), teams: z.object({ team: z.string(), channel: z.string() }).optional() }).default({}),
  slaWarnAt: z.number().gt(0).lt(1).default(0.75),
}).default({ autoCloseAfter: 3 * 86_400_000, statusUpdateEvery: 30 * 60_000, announce: {}, slaWarnAt: 0.75 });

/** The organisation file schema. Later workflows add their sections here. */
export const orgSchema = z.object({
  organisation: z.string().default('tread'),
  timezone: timezone.default('UTC'),
  /** Match unknown chat users to people by email (off by default: ids only). */
  matchByEmail: z.boolean().default(false),
  people: z.array(personSchema).default([]),
  teams: z.array(teamSchema).default([]),
  services: z.array(serviceSchema).default([]),
  businessHours: businessHoursSchema.optional(),
  sla: z.object({
    P1: slaTargetSchema, P2: slaTargetSchema, P3: slaTargetSchema, P4: slaTargetSchema, P5: slaTargetSchema,
  }).default(() => z.object({ P1: slaTargetSchema, P2: slaTargetSchema, P3: slaTargetSchema, P4: slaTargetSchema, P5: slaTargetSchema }).parse(DEFAULT_SLA)),
  incident: incidentSettingsSchema,
  ...oncallSections,
  ...eventConfigShape,
}).superRefine((org, ctx) => {
  const personIds = new Set<string>();
  org.people.forEach((p, i) => {
    if (personIds.has(p.id)) ctx.addIssue({ code: 'custom', path: ['people', i, 'id'], message: `duplicate person id "${p.id}"` });
    personIds.add(p.id);
  });
  const checkPerson = (pid: string, path: (string | number)[]) => {
    if (!personIds.has(pid)) ctx.addIssue({ code: 'custom', path, message: `unknown person "${pid}" (not in people)` });
  };
  const teamIds = new Set(org.teams.map((t) => t.id));
  org.teams.forEach((t, i) => t.members.forEach((m, j) => checkPerson(m, ['teams', i, 'members', j])));
  const names = new Set<string>();
  org.services.forEach((s, i) => {
    if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['services', i, 'name'], message: `duplicate service "${s.name}"` });
    names.add(s.name);
    s.owners.forEach((o, j) => checkPerson(o, ['services', i, 'owners', j]));
    if (s.team && !teamIds.has(s.team)) ctx.addIssue({ code: 'custom', path: ['services', i, 'team'], message: `unknown team "${s.team}"` });
  });
  checkOncallConfig(org, personIds, (issue) => ctx.addIssue(issue));
  checkEventConfig(org, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
});

export type OrgConfig = z.infer<typeof orgSchema>;
export type PersonConfig = OrgConfig['people'][number];
export type ServiceConfig = OrgConfig['services'][number];
export type SlaTarget = OrgConfig['sla']['P1'];
export type BusinessHours = NonNullable<OrgConfig['businessHours']>;

/** Raised for a bad organisation file; the message names the file and the path inside it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Formats a zod path like `catalog[2].fields[0].type`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** Replaces `${VAR}` in every string value; a missing variable is an error naming the path. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new ConfigError(`${formatPath(path) || 'config'}: environment variable ${name} is not set`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, [...path, k])]));
  }
  return value;
}

/** Parses organisation YAML text. `origin` names the file in errors. */
export function parseOrgConfig(text: string, origin = 'config', env: NodeJS.ProcessEnv = process.env): OrgConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`${origin}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  let expanded: unknown;
  try {
    expanded = expandEnv(raw, env);
  } catch (e) {
    throw new ConfigError(`${origin}: ${(e as Error).message}`);
  }
  const result = orgSchema.safeParse(expanded);
  if (!result.success) {
    const lines = result.error.issues.slice(0, 5).map((i) => `${formatPath(i.path) || '(top)'}: ${i.message}`);
    throw new ConfigError(`${origin}: ${lines.join('; ')}`);
  }
  return result.data;
}

/** The bundled example organisation file. */
export function exampleConfigPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here, i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'tread.example.yaml');
    if (existsSync(candidate)) return candidate;
  }
  throw new ConfigError('tread.example.yaml not found');
}

/** Loads the organisation file: TREAD_CONFIG, else ./tread.yaml, else the bundled example. */
export function loadOrgConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): { config: OrgConfig; path: string; example: boolean } {
  let file = path;
  let example = false;
  if (!file) {
    if (existsSync('tread.yaml')) file = 'tread.yaml';
    else { file = exampleConfigPath(); example = true; }
  }
  const full = resolve(file);
  if (!existsSync(full)) throw new ConfigError(`${file}: file not found (TREAD_CONFIG)`);
  return { config: parseOrgConfig(readFileSync(full, 'utf8'), file, env), path: full, example };
}
