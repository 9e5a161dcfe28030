/**
 * Who is asked to decide something, as the organisation file names them: approvers of an approval policy, reviewers of
 * an access review. One grammar for every section that names such people; the approval workflow resolves targets to
 * person ids (its `approval.resolve` operation), so every workflow resolves them the same way.
 */
import { z } from 'zod';
import { idSchema } from './schemas.js';

/**
 * `{person}`, `{team}` (its members), `{schedule}` (whoever is on call then), `{manager: true}` (the manager of the
 * person it is about: the requester, the grantee) or `{owners: true}` (the owners of the item's service or the resource).
 */
export type PersonTarget =
  | { kind: 'person'; person: string }
  | { kind: 'team'; team: string }
  | { kind: 'schedule'; schedule: string }
  | { kind: 'manager' }
  | { kind: 'owners' };

/** A target as written in the organisation file: exactly one of its keys. */
export const personTargetSchema = z.object({
  person: z.string().min(1).optional(),
  team: idSchema.optional(),
  schedule: idSchema.optional(),
  manager: z.literal(true).optional(),
  owners: z.literal(true).optional(),
}).strict().superRefine((t, ctx) => {
  const n = [t.person, t.team, t.schedule, t.manager, t.owners].filter((x) => x !== undefined).length;
  if (n !== 1) ctx.addIssue({ code: 'custom', message: 'a target is exactly one of {person: id}, {team: id}, {schedule: name}, {manager: true} or {owners: true}' });
}).transform((t): PersonTarget => {
  if (t.person !== undefined) return { kind: 'person', person: t.person };
  if (t.team !== undefined) return { kind: 'team', team: t.team };
  if (t.schedule !== undefined) return { kind: 'schedule', schedule: t.schedule };
  if (t.manager) return { kind: 'manager' };
  return { kind: 'owners' };
});

/** What the cross-check of a target knows: the configured people, teams and on-call schedules. */
export interface KnownTargets {
  people: ReadonlySet<string>;
  teams: ReadonlySet<string>;
  schedules: ReadonlySet<string>;
}

/** Reports a target naming a person, team or schedule the config does not have. */
export function checkTarget(t: PersonTarget, known: KnownTargets, path: (string | number)[], issue: (path: (string | number)[], message: string) => void): void {
  if (t.kind === 'person' && !known.people.has(t.person)) issue([...path, 'person'], `unknown person "${t.person}" (not in people)`);
  if (t.kind === 'team' && !known.teams.has(t.team)) issue([...path, 'team'], `unknown team "${t.team}" (not in teams)`);
  if (t.kind === 'schedule' && !known.schedules.has(t.schedule)) issue([...path, 'schedule'], `unknown schedule "${t.schedule}" (not in schedules)`);
}

/** A target in words for cards: `manager`, `team it`, `on call for web-primary`, `alice`. */
export function targetWords(t: PersonTarget): string {
  switch (t.kind) {
    case 'person': return t.person;
    case 'team': return `team ${t.team}`;
    case 'schedule': return `on call for ${t.schedule}`;
    case 'manager': return 'manager';
    case 'owners': return 'owners';
  }
}
