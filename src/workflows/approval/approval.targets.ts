/** Copies a policy onto an approval: every target resolved to person ids at that moment (on-call through the seam). */
import type { AppContext } from '../../core/app.js';
import { targetWords } from '../../core/config/targets.js';
import { DomainError } from '../../core/errors.js';
import { directoryOf, SCHEDULER_ACTOR } from '../../core/identity.js';
import type { OpContext } from '../../core/workflow.js';
import type { ApprovalPolicyConfig, ApprovalTarget } from './approval.config.js';
import type { StoredPolicy, StoredStage } from './approval.machine.js';

/** Who the targets are resolved for. */
export interface TargetContext {
  /** Whom it is about: the requester of an approval (the grantee of a reviewed grant); `{manager: true}` is their manager. */
  requester?: string;
  /** Owners named by the owning workflow (a resource's owners); else the service's owners. */
  owners?: string[];
  service?: string;
}

async function resolveTarget(op: OpContext, t: ApprovalTarget, ctx: TargetContext): Promise<string[]> {
  const dir = directoryOf(op.app.config);
  switch (t.kind) {
    case 'person': return [t.person];
    case 'team': return dir.teamMembers(t.team) ?? [];
    case 'manager': {
      const m = ctx.requester ? dir.managerOf(ctx.requester) : undefined;
      return m ? [m] : [];
    }
    case 'owners': return ctx.owners ?? (ctx.service ? dir.serviceOwners(ctx.service) ?? [] : []);
    case 'schedule': {
      if (!op.app.seam.offers('oncall.who_is_on_call')) return [];
      const { person } = await op.app.seam.call('oncall.who_is_on_call', { ...op, actor: SCHEDULER_ACTOR }, { schedule: t.schedule, at: op.now });
      return person ? [person] : [];
    }
  }
}

/**
 * Targets resolved to person ids now, each once, in the order named: a team's members, whoever is on call on a schedule
 * (through `oncall.who_is_on_call`), the requester's manager, the owners. The requester is included when a target names
 * them; callers decide whether they may decide about themselves.
 */
export async function resolveTargets(op: OpContext, targets: readonly ApprovalTarget[], ctx: TargetContext): Promise<string[]> {
  const out: string[] = [];
  for (const t of targets) out.push(...(await resolveTarget(op, t, ctx)));
  return [...new Set(out)];
}

async function resolveAll(op: OpContext, targets: readonly ApprovalTarget[], ctx: TargetContext, allowSelf: boolean): Promise<string[]> {
  return (await resolveTargets(op, targets, ctx)).filter((p) => allowSelf || p !== ctx.requester);
}

/**
 * The policy with every target resolved to person ids now. The requester is left out of every stage unless the policy
 * allows self-approval. A stage that resolves to nobody is decided by its fallback; with no fallback either, the approval
 * cannot start (a coded error naming the stage).
 */
export async function copyPolicy(op: OpContext, policy: ApprovalPolicyConfig, ctx: TargetContext & { requester: string }): Promise<StoredPolicy> {
  const stages: StoredStage[] = [];
  for (const [i, s] of policy.stages.entries()) {
    const approvers = await resolveAll(op, s.approvers, ctx, policy.allowSelfApproval);
    const fallback = s.fallback ? await resolveAll(op, s.fallback, ctx, policy.allowSelfApproval) : [];
    if (approvers.length === 0 && fallback.length === 0) {
      const words = s.approvers.map(targetWords).join(', ');
      const why = s.approvers.some((t) => t.kind === 'manager') && !directoryOf(op.app.config).managerOf(ctx.requester) ? ` (${ctx.requester} has no manager in the config)` : '';
      throw new DomainError('approval.no_approvers', `Nobody can approve this yet: stage ${i + 1} of the approval policy ${policy.name} (${words}) names nobody but the requester or nobody at all${why}. Ask an admin to fix the policy.`, 409);
    }
    stages.push({
      approvers, fallback, rule: s.rule, escalateAfterMs: s.escalateAfter,
      targets: s.approvers.map(targetWords),
    });
  }
  return {
    name: policy.name, stages, expireAfterMs: policy.expireAfter, remindAfterMs: policy.remindAfter, remindEveryMs: policy.remindEvery,
    allowSelfApproval: policy.allowSelfApproval,
  };
}

/** A policy of the config by name; a coded error listing the known ones otherwise. */
export function policyNamed(app: AppContext, name: string): ApprovalPolicyConfig {
  const p = app.config.approvalPolicies.find((x) => x.name === name);
  if (!p) throw new DomainError('approval.unknown_policy', `There is no approval policy "${name}". Policies: ${app.config.approvalPolicies.map((x) => x.name).join(', ') || 'none'}.`, 400);
  return p;
}
