/** The `approvalPolicies` section of the organisation file: who approves, in which stages, by which rule, and the clocks. */
import { z } from 'zod';
import { idSchema } from '../../core/config/schemas.js';
import { checkTarget as checkTargetIn, personTargetSchema, type PersonTarget } from '../../core/config/targets.js';
import type { OrgConfig } from '../../core/config/org.js';
import { durationSchema } from '../../core/duration.js';
import type { ConfigSection } from '../../core/workflow.js';

/** Who may approve: a target of the organisation file's one grammar (src/core/config/targets.ts). */
export type ApprovalTarget = PersonTarget;

/** How many of a stage's approvers must approve: any one, all of them, or n. */
export type ApprovalRule = { kind: 'any' } | { kind: 'all' } | { kind: 'n'; n: number };

const ruleSchema = z.union([
  z.enum(['any', 'all']).transform((k): ApprovalRule => ({ kind: k })),
  z.object({ n: z.number().int().min(1, 'n is at least 1') }).strict().transform((r): ApprovalRule => ({ kind: 'n', n: r.n })),
], { error: 'write the rule as any, all or {n: 2}' });

const stageSchema = z.object({
  approvers: z.array(personTargetSchema).min(1, 'a stage needs at least one approver target'),
  rule: ruleSchema.default({ kind: 'any' }),
  /** When nobody decided the stage within this time, the fallback approvers are asked too (any one of them decides). */
  escalateAfter: durationSchema.optional(),
  fallback: z.array(personTargetSchema).min(1).optional(),
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
  const known = { people: new Set(org.people.map((p) => p.id)), teams: new Set(org.teams.map((t) => t.id)), schedules: new Set((org.schedules ?? []).map((s) => s.name)) };
  const names = new Set<string>();
  const checkTarget = (t: ApprovalTarget, path: (string | number)[]) => checkTargetIn(t, known, path, issue);
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
