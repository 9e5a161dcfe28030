/**
 * The organisation file (YAML): people, teams, services and business hours here; every other section is declared by the
 * workflow that owns it (`Workflow.config`) and assembled with these by `parseOrgConfig`. Nothing here imports a workflow.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { deliverySchema } from '../delivery/delivery.config.js';
import { idSchema, timeOfDaySchema, timezoneSchema } from './schemas.js';
import type { ConfigSection } from '../workflow.js';

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
  /** The person's manager (a person id): approval policies can ask them. */
  manager: id.optional(),
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
  /** Escalation policy name used when this service pages (on-call). */
  escalationPolicy: z.string().optional(),
});

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const businessHoursSchema = z.object({
  timezone: timezone.optional(),
  days: z.array(z.enum(WEEKDAYS)).min(1, 'name at least one business day').default(['mon', 'tue', 'wed', 'thu', 'fri']),
  start: timeOfDay.default('09:00'),
  end: timeOfDay.default('17:00'),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'write a date as YYYY-MM-DD')).default([]),
}).refine((b) => b.start < b.end, { message: 'start must be before end', path: ['end'] });

/** The sections every tread has, whichever workflows run. */
const baseShape = {
  organisation: z.string().default('tread'),
  timezone: timezone.default('UTC'),
  /** Match unknown chat users to people by email (off by default: ids only). */
  matchByEmail: z.boolean().default(false),
  people: z.array(personSchema).default([]),
  teams: z.array(teamSchema).default([]),
  services: z.array(serviceSchema).default([]),
  businessHours: businessHoursSchema.optional(),
  /** How fast tread may talk to each platform (src/core/delivery/delivery.config.ts). */
  delivery: deliverySchema,
};
const baseSchema = z.object(baseShape);

/** The core sections, parsed. */
export type BaseOrgConfig = z.infer<typeof baseSchema>;

/**
 * The sections workflows add, parsed: each workflow's `<w>.config.ts` adds its own with declaration merging
 * (`declare module '../../core/config/org.js' { interface OrgSections extends EventConfig {} }`).
 */
export interface OrgSections {}

/** The parsed organisation file. */
export type OrgConfig = BaseOrgConfig & OrgSections & {
  /** The folder of the organisation file when it was loaded from one: relative paths in it (a knowledge folder) start there. */
  baseDir?: string;
};
export type PersonConfig = BaseOrgConfig['people'][number];
export type ServiceConfig = BaseOrgConfig['services'][number];
export type BusinessHours = NonNullable<BaseOrgConfig['businessHours']>;

/** Cross-checks of the core sections: unique ids, known people and teams. */
function checkBase(org: BaseOrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const personIds = new Set<string>();
  org.people.forEach((p, i) => {
    if (personIds.has(p.id)) issue(['people', i, 'id'], `duplicate person id "${p.id}"`);
    personIds.add(p.id);
  });
  const checkPerson = (pid: string, path: (string | number)[]) => {
    if (!personIds.has(pid)) issue(path, `unknown person "${pid}" (not in people)`);
  };
  org.people.forEach((p, i) => {
    if (p.manager === undefined) return;
    if (p.manager === p.id) issue(['people', i, 'manager'], 'a person cannot be their own manager');
    else checkPerson(p.manager, ['people', i, 'manager']);
  });
  const teamIds = new Set<string>();
  org.teams.forEach((t, i) => {
    if (teamIds.has(t.id)) issue(['teams', i, 'id'], `duplicate team id "${t.id}"`);
    teamIds.add(t.id);
    t.members.forEach((m, j) => checkPerson(m, ['teams', i, 'members', j]));
  });
  const names = new Set<string>();
  org.services.forEach((s, i) => {
    if (names.has(s.name)) issue(['services', i, 'name'], `duplicate service "${s.name}"`);
    names.add(s.name);
    s.owners.forEach((o, j) => checkPerson(o, ['services', i, 'owners', j]));
    if (s.team && !teamIds.has(s.team)) issue(['services', i, 'team'], `unknown team "${s.team}"`);
  });
}

/** Raised for a bad organisation file; the message names the file and the path inside it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Formats a zod path like `catalog[2].fields[0].type`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** Replaces `${VAR}` in every string value; each missing variable is reported with its path. */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: (string | number)[] = [], missing: Map<string, string> = new Map()): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => {
      const v = env[name];
      if (v === undefined) {
        missing.set(formatPath(path) || 'config', `environment variable ${name} is not set`);
        return whole;
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, i], missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, [...path, k], missing)]));
  }
  return value;
}

/**
 * Parses organisation YAML text with the core sections and those the given workflows declare. Every problem of the
 * file is reported at once, one line each, naming its path (`origin` names the file).
 */
export function parseOrgConfig(text: string, origin: string, env: NodeJS.ProcessEnv, sections: readonly ConfigSection[]): OrgConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new ConfigError(`${origin}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${origin}: the file must be a mapping of sections (organisation:, people:, …)`);
  const missing = new Map<string, string>();
  const expanded = expandEnv(raw, env, [], missing) as Record<string, unknown>;
  // A section may take a missing variable at some of its paths as its own business (the value stays `${VAR}`).
  for (const path of [...missing.keys()]) if (sections.some((s) => s.optionalVariable?.(path))) missing.delete(path);
  const problems: string[] = [...missing].map(([path, message]) => `${path}: ${message}`);
  const shapes: Record<string, z.ZodType>[] = [baseShape, ...sections.map((s) => s.shape)];
  const known = new Set(shapes.flatMap((shape) => Object.keys(shape)));
  for (const key of Object.keys(expanded)) {
    if (!known.has(key)) problems.push(`${key}: unknown section (known: ${[...known].join(', ')})`);
  }
  // Each section is parsed on its own, so one mistake does not hide the others.
  const parsed: Record<string, unknown> = {};
  const failed = new Set<string>();
  for (const shape of shapes) {
    for (const [key, schema] of Object.entries(shape)) {
      const result = schema.safeParse(expanded[key]);
      if (result.success) parsed[key] = result.data;
      else {
        failed.add(key);
        for (const i of result.error.issues) {
          const path = formatPath([key, ...i.path]);
          if (!missing.has(path)) problems.push(`${path || '(top)'}: ${i.message}`); // a missing variable is the problem there
        }
      }
    }
  }
  // Cross-checks run on what parsed: they compare against people, teams and services, so those must have parsed, and
  // a workflow's own sections for its check.
  const org = parsed as unknown as OrgConfig;
  const issue = (path: (string | number)[], message: string) => problems.push(`${formatPath(path)}: ${message}`);
  const directoryOk = ['people', 'teams', 'services'].every((k) => !failed.has(k));
  if (directoryOk) checkBase(org, issue);
  for (const section of sections) {
    if (directoryOk && Object.keys(section.shape).every((k) => !failed.has(k))) section.check?.(org, issue);
  }
  if (problems.length) throw new ConfigError(problems.map((p) => `${origin}: ${p}`).join('\n'));
  return org;
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
export function loadOrgConfig(path: string | undefined, env: NodeJS.ProcessEnv, sections: readonly ConfigSection[]): { config: OrgConfig; path: string; example: boolean } {
  let file = path;
  let example = false;
  if (!file) {
    if (existsSync('tread.yaml')) file = 'tread.yaml';
    else { file = exampleConfigPath(); example = true; }
  }
  const full = resolve(file);
  if (!existsSync(full)) throw new ConfigError(`${file}: file not found (TREAD_CONFIG)`);
  const config = parseOrgConfig(readFileSync(full, 'utf8'), file, env, sections);
  config.baseDir = dirname(full);
  return { config, path: full, example };
}
