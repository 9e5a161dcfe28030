/** The `approvalPolicies` section of the organisation file: who approves, in which stages, by which rule, and the clocks. */
import { z } from 'zod';
import { idSchema } from '../../core/config/schemas.js';
import type { OrgConfig } from '../../core/config/org.js';
import { durationSchema } from '../../core/duration.js';
import type { ConfigSection } from '../../core/workflow.js';

/**
 * Who may approve: `{person}`, `{team}` (its members), `{schedule}` (whoever is on call when approval starts),
 * `{manager: true}` (the requester's manager) or `{owners: true}` (the owners of the item's service or the resource).
 */
export type ApprovalTarget =
  | { kind: 'person'; person: string }
  | { kind: 'team'; team: string }
  | { kind: 'schedule'; schedule: string }
  | { kind: 'manager' }
  | { kind: 'owners' };

const targetSchema = z.object({
  person: z.string().min(1).optional(),
  team: idSchema.optional(),
  schedule: idSchema.optional(),
  manager: z.literal(true).optional(),
  owners: z.literal(true).optional(),
}).strict().superRefine((t, ctx) => {
  const n = [t.person, t.team, t.schedule, t.manager, t.owners].filter((x) => x !== undefined).length;
  if (n !== 1) ctx.addIssue({ code: 'custom', message: 'a target is exactly one of {person: id}, {team: id}, {schedule: name}, {manager: true} or {owners: true}' });
}).transform((t): ApprovalTarget => {
  if (t.person !== undefined) return { kind: 'person', person: t.person };
  if (t.team !== undefined) return { kind: 'team', team: t.team };
  if (t.schedule !== undefined) return { kind: 'schedule', schedule: t.schedule };
  if (t.manager) return { kind: 'manager' };
  return { kind: 'owners' };
});

/** How many of a stage's approvers must approve: any one, all of them, or n. */
export type ApprovalRule = { kind: 'any' } | { kind: 'all' } | { kind: 'n'; n: number };

const ruleSchema = z.union([
  z.enum(['any', 'all']).transform((k): ApprovalRule => ({ kind: k })),
  z.object({ n: z.number().int().min(1, 'n is at least 1') }).strict().transform((r): ApprovalRule => ({ kind: 'n', n: r.n })),
], { error: 'write the rule as any, all or {n: 2}' });

const stageSchema = z.object({
  approvers: z.array(targetSchema).min(1, 'a stage needs at least one approver target'),
  rule: ruleSchema.default({ kind: 'any' }),
  /** When nobody decided the stage within this time, the fallback approvers are asked too (any one of them decides). */
  escalateAfter: durationSchema.optional(),
  fallback: z.array(targetSchema).min(1).optional(),
}).strict();

/** An approval policy. */
export const approvalPolicySchema = z.object({
  name: idSchema,
  stages: z.array(stageSchema).min(1, 'a policy needs at least one stage'),
  expireAfter: durationSchema.default(3 * 86_400_000),
  remindAfter: durationSchema.default(4 * 3_600_000),
  remindEvery: durationSchema.default(86_400_000),
  allowSelfApproval: z.boolean().default(false),
}).strict();

/** A parsed approval policy. */
export type ApprovalPolicyConfig = z.infer<typeof approvalPolicySchema>;

const shape = {
  approvalPolicies: z.array(approvalPolicySchema).default([]),
};

/** The parsed approval section. */
export type ApprovalConfig = z.infer<z.ZodObject<typeof shape>>;

declare module '../../core/config/org.js' {
  interface OrgSections extends ApprovalConfig {}
}

/** Cross-checks: unique names, known people, teams and schedules, rules that can be met, fallbacks for escalation. */
function checkApprovalConfig(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const people = new Set(org.people.map((p) => p.id));
  const teams = new Set(org.teams.map((t) => t.id));
  const schedules = new Set((org.schedules ?? []).map((s) => s.name));
  const names = new Set<string>();
  const checkTarget = (t: ApprovalTarget, path: (string | number)[]) => {
    if (t.kind === 'person' && !people.has(t.person)) issue([...path, 'person'], `unknown person "${t.person}" (not in people)`);
    if (t.kind === 'team' && !teams.has(t.team)) issue([...path, 'team'], `unknown team "${t.team}" (not in teams)`);
    if (t.kind === 'schedule' && !schedules.has(t.schedule)) issue([...path, 'schedule'], `unknown schedule "${t.schedule}" (not in schedules)`);
  };
  org.approvalPolicies.forEach((p, i) => {
    if (names.has(p.name)) issue(['approvalPolicies', i, 'name'], `duplicate approval policy "${p.name}"`);
    names.add(p.name);
    p.stages.forEach((s, j) => {
      const path = ['approvalPolicies', i, 'stages', j];
      s.approvers.forEach((t, k) => checkTarget(t, [...path, 'approvers', k]));
      s.fallback?.forEach((t, k) => checkTarget(t, [...path, 'fallback', k]));
      if (s.escalateAfter !== undefined && !s.fallback) issue([...path, 'escalateAfter'], 'escalateAfter needs fallback approvers to escalate to');
      if (s.rule.kind === 'n' && s.approvers.every((t) => t.kind === 'person') && s.rule.n > s.approvers.length) {
        issue([...path, 'rule'], `n is ${s.rule.n} but the stage names only ${s.approvers.length} approver${s.approvers.length === 1 ? '' : 's'}`);
      }
    });
  });
}

/** The approval workflow's section of the organisation file. */
export const approvalConfig: ConfigSection = { shape, check: checkApprovalConfig };
