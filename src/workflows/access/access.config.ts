/**
 * The access sections of the organisation file: `resources` (what can be granted, to whom it is sensitive, who approves,
 * how long, how it is provisioned, how it is reviewed) and `access` (the security channel and the clocks).
 */
import { z } from 'zod';
import { channelSchema, idSchema } from '../../core/config/schemas.js';
import { checkTarget, personTargetSchema } from '../../core/config/targets.js';
import type { OrgConfig } from '../../core/config/org.js';
import { durationSchema } from '../../core/duration.js';
import type { ConfigSection } from '../../core/workflow.js';

/** Words that are `/access` subcommands, so no resource may be named so. */
export const ACCESS_WORDS: readonly string[] = ['request', 'list', 'show', 'revoke', 'extend', 'breakglass', 'audit', 'review', 'drift', 'confirm', 'help', 'mine', 'cancel'];

/** How sensitive a role is: high needs a second step after the approve button. */
export const SENSITIVITIES = ['low', 'medium', 'high'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];

/** `${VAR}` left in a value: the variable was not set (allowed only where `optionalVariable` says so). */
const UNSET = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/;

/** The name of a variable a value still waits for, if any. */
export function unsetVariable(value: string): string | undefined {
  return UNSET.exec(value)?.[1];
}

/** A value that is either given or a variable that is not set (the resource is then skipped at start). */
const secretish = (check: (v: string) => boolean, message: string) => z.string().min(1).refine((v) => unsetVariable(v) !== undefined || check(v), message);

const LOGIN_PLACEHOLDERS = ['{person}', '{email}'];

const connectorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('manual') }).strict(),
  z.object({
    kind: z.literal('webhook'),
    url: secretish((v) => /^https?:\/\/[^\s/]+/.test(v), 'write the URL as http(s)://…'),
    secret: secretish((v) => v.length >= 16, 'use a secret of at least 16 characters'),
  }).strict(),
  z.object({
    kind: z.literal('postgres'),
    /** A secret: put it in the environment (`${ACCESS_PG_URL}`); it is never logged. */
    connectionString: secretish((v) => /^postgres(ql)?:\/\//.test(v), 'write it as postgres://user@host:5432/db (better: ${VAR} from the environment)'),
    /** The database login of a person: `{person}` is their id, `{email}` their email. */
    login: z.string().min(1).default('{person}').refine((v) => v.replace(/\{(person|email)\}/g, '').indexOf('{') < 0 && LOGIN_PLACEHOLDERS.some((p) => v.includes(p)), 'use {person} or {email} in the login, like "{person}" or "app_{person}"'),
    /** How long a call to the server may take (a GRANT waiting on a lock there, a network that drops packets); then it is retried. */
    timeout: durationSchema.default(30_000),
  }).strict(),
], { error: 'give the connector as {kind: manual}, {kind: webhook, url, secret} or {kind: postgres, connectionString, login}' });

/** A provisioning connector as configured. */
export type ConnectorConfig = z.infer<typeof connectorSchema>;
/** The kinds of connector. */
export type ConnectorKind = ConnectorConfig['kind'];

const roleSchema = z.object({
  name: idSchema,
  title: z.string().min(1).max(100),
  sensitivity: z.enum(SENSITIVITIES),
  /** Overrides the resource's policy for this role. */
  approvalPolicy: idSchema.optional(),
}).strict();

const reviewSchema = z.object({
  /** A campaign starts this often (counted from start-up, then from each campaign). */
  every: durationSchema,
  deadline: durationSchema.default(14 * 86_400_000),
  remindEvery: durationSchema.default(86_400_000),
  /** Who reviews, in the approvers' grammar: `{manager: true}` is the grantee's manager, `{schedule}` whoever is on call when it starts. */
  reviewers: z.array(personTargetSchema).min(1).default([{ kind: 'owners' }]),
  /** At the deadline, grants nobody reviewed are revoked (else only escalated to the owners). */
  revokeUnreviewed: z.boolean().default(false),
}).strict();

/** A resource people can be granted roles on. */
export const resourceSchema = z.object({
  name: idSchema,
  title: z.string().min(1).max(100),
  description: z.string().max(500).optional(),
  /** The team that does manual work (grant and removal tasks). */
  team: idSchema.optional(),
  owners: z.array(idSchema).min(1, 'name at least one owner'),
  roles: z.array(roleSchema).min(1, 'name at least one role'),
  approvalPolicy: idSchema,
  defaultDuration: durationSchema.default(4 * 3_600_000),
  maxDuration: durationSchema.default(7 * 86_400_000),
  requireReason: z.boolean().default(true),
  requireTicket: z.boolean().default(false),
  /** Pairs of roles nobody may hold at once (separation of duties). */
  conflicts: z.array(z.tuple([idSchema, idSchema])).default([]),
  /** The grantee may extend without a new approval, up to maxDuration in total. */
  selfExtend: z.boolean().default(false),
  connector: connectorSchema,
  review: reviewSchema.optional(),
}).strict();

/** A parsed resource. */
export type ResourceConfig = z.infer<typeof resourceSchema>;
/** A parsed role of a resource. */
export type RoleConfig = ResourceConfig['roles'][number];

const settingsSchema = z.object({
  /** Where break-glass, failures, drift and review results are announced. */
  securityChannel: channelSchema.optional(),
  expiryWarning: durationSchema.default(15 * 60_000),
  breakGlassMax: durationSchema.default(3_600_000),
  /** The owners' review task of a break-glass use is reminded after this long, then every breakGlassRemindEvery, until reviewed. */
  breakGlassRemindAfter: durationSchema.default(4 * 3_600_000),
  breakGlassRemindEvery: durationSchema.default(86_400_000),
  reconcileEvery: durationSchema.default(15 * 60_000),
}).strict().default({ expiryWarning: 15 * 60_000, breakGlassMax: 3_600_000, breakGlassRemindAfter: 4 * 3_600_000, breakGlassRemindEvery: 86_400_000, reconcileEvery: 15 * 60_000 });

const shape = {
  resources: z.array(resourceSchema).default([]),
  access: settingsSchema,
};

/** The parsed access sections. */
export type AccessConfig = z.infer<z.ZodObject<typeof shape>>;

declare module '../../core/config/org.js' {
  interface OrgSections extends AccessConfig {}
}

/** Why a resource cannot be used in this run (a connector secret whose variable is not set), or undefined. */
export function unavailableReason(r: ResourceConfig): string | undefined {
  const c = r.connector;
  const values = c.kind === 'webhook' ? [c.url, c.secret] : c.kind === 'postgres' ? [c.connectionString] : [];
  const missing = values.map(unsetVariable).filter((v): v is string => v !== undefined);
  return missing.length ? `the environment variable ${[...new Set(missing)].join(', ')} is not set` : undefined;
}

/** Cross-checks: unique names, known people, teams and policies, sane durations, conflicts naming roles of the resource. */
function checkAccessConfig(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const people = new Set(org.people.map((p) => p.id));
  const teams = new Set(org.teams.map((t) => t.id));
  const known = { people, teams, schedules: new Set((org.schedules ?? []).map((s) => s.name)) };
  const policies = org.approvalPolicies ? new Set(org.approvalPolicies.map((p) => p.name)) : undefined;
  const names = new Set<string>();
  const checkPolicy = (name: string, path: (string | number)[]) => {
    if (!policies) issue(path, 'approvals are not available in this tread');
    else if (!policies.has(name)) issue(path, `unknown approval policy "${name}" (not in approvalPolicies)`);
  };
  org.resources.forEach((r, i) => {
    const at = (...rest: (string | number)[]) => ['resources', i, ...rest];
    if (names.has(r.name)) issue(at('name'), `duplicate resource "${r.name}"`);
    if (ACCESS_WORDS.includes(r.name)) issue(at('name'), `"${r.name}" is an /access subcommand; name the resource otherwise`);
    names.add(r.name);
    r.owners.forEach((o, j) => { if (!people.has(o)) issue(at('owners', j), `unknown person "${o}" (not in people)`); });
    if (r.team && !teams.has(r.team)) issue(at('team'), `unknown team "${r.team}" (not in teams)`);
    if (r.connector.kind === 'manual' && !r.team) issue(at('team'), 'a manual connector needs the team that grants and removes access by hand');
    checkPolicy(r.approvalPolicy, at('approvalPolicy'));
    const roles = r.roles.map((x) => x.name);
    r.roles.forEach((role, j) => {
      if (roles.indexOf(role.name) !== j) issue(at('roles', j, 'name'), `duplicate role "${role.name}"`);
      if (role.approvalPolicy) checkPolicy(role.approvalPolicy, at('roles', j, 'approvalPolicy'));
    });
    if (r.defaultDuration > r.maxDuration) issue(at('defaultDuration'), 'defaultDuration is longer than maxDuration');
    r.conflicts.forEach((pair, j) => {
      pair.forEach((name, k) => { if (!roles.includes(name)) issue(at('conflicts', j, k), `no role "${name}" in this resource (roles: ${roles.join(', ')})`); });
      if (pair[0] === pair[1]) issue(at('conflicts', j), 'a role does not conflict with itself');
    });
    r.review?.reviewers.forEach((t, j) => checkTarget(t, known, at('review', 'reviewers', j), issue));
  });
  if (org.resources.length && !org.access.securityChannel) issue(['access', 'securityChannel'], 'name the security channel (break-glass, failures, drift and reviews are announced there)');
}

/** A missing variable is allowed in a connector's secrets: the resource is skipped, with a line at start. */
const OPTIONAL = /^resources\[\d+\]\.connector\.(connectionString|url|secret)$/;

/** The access workflow's sections of the organisation file. */
export const accessConfig: ConfigSection = { shape, check: checkAccessConfig, optionalVariable: (path) => OPTIONAL.test(path) };
