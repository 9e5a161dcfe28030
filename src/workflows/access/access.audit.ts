/**
 * `/access audit <person|resource> [30d]`: the audit log rows about a person's or a resource's access — requests,
 * approval decisions (the approvals of their grants), grants, extensions, revocations, removals, review decisions,
 * drift and refusals — read from the hash-chained log (`GET /api/v1/audit` exports all of it, `tread audit verify`
 * checks it).
 */
import { sql } from 'drizzle-orm';
import { queryRows, type DbOrTx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { formatDuration } from '../../core/duration.js';
import { forbidden } from '../../core/errors.js';
import { API_PERSON, hasRole, personName, type Person } from '../../core/identity.js';
import type { Message } from '../../core/message.js';
import { formatTime } from '../../core/time-zone.js';

/** One audit row as read here. */
export interface AuditLine {
  seq: number;
  at: Date;
  actor: string;
  source: string;
  subject: string;
  action: string;
  data: Record<string, unknown>;
}

/** What the trail is about. */
export type AuditTarget = { kind: 'resource'; name: string } | { kind: 'person'; id: string };

/** Who may read a trail: responders and admins; a resource's owners theirs; a person their own. */
export function requireAuditView(app: AppContext, target: AuditTarget, person: Person): void {
  if (hasRole(person, 'responder')) return;
  if (target.kind === 'person' && target.id === person.id) return;
  if (target.kind === 'resource' && app.config.resources.find((r) => r.name === target.name)?.owners.includes(person.id)) return;
  throw forbidden('access.audit_forbidden', `${person.name} may not read this audit trail: responders and admins read every trail, owners those of their resources, and everyone their own.`);
}

/** The rows of a trail since a time, newest first, at most `limit`. */
export async function auditTrail(db: DbOrTx, target: AuditTarget, since: Date, limit = 50): Promise<AuditLine[]> {
  const match = target.kind === 'resource' ? sql`g.resource = ${target.name}` : sql`g.person = ${target.id}`;
  const direct = target.kind === 'resource' ? sql`a.data->>'resource' = ${target.name}` : sql`(a.data->>'person' = ${target.id} or (a.actor = ${target.id} and (a.subject like 'GRT-%' or a.subject like 'REV-%' or a.subject like 'access:%' or a.action like 'refused:access.%')))`;
  const rows = await queryRows<{ seq: number; at: string | Date; actor: string; source: string; subject: string; action: string; data: Record<string, unknown> }>(db, sql`
    with grants as (select 'GRT-' || g.id as subject from access_grants g where ${match})
    select a.seq, a.at, a.actor, a.source, a.subject, a.action, a.data from audit_log a
    where a.at >= ${since.toISOString()}::timestamptz and (
      ${direct}
      or a.subject in (select subject from grants)
      or (a.subject like 'APR-%' and a.data->>'record' in (select subject from grants))
    )
    order by a.seq desc limit ${limit}`);
  return rows.map((r) => ({ ...r, seq: Number(r.seq), at: new Date(r.at) }));
}

function describe(l: AuditLine): string {
  const d = l.data;
  const bits: string[] = [];
  for (const k of ['resource', 'role', 'record', 'grant', 'login', 'kind', 'via']) if (typeof d[k] === 'string') bits.push(`${k} ${d[k]}`);
  if (typeof d.durationMs === 'number') bits.push(`for ${formatDuration(d.durationMs)}`);
  if (typeof d.reason === 'string') bits.push(`“${d.reason}”`);
  return bits.join(' · ');
}

/** The trail as a chat message (oldest of the shown rows first). */
export async function auditMessage(app: AppContext, target: AuditTarget, days: number, lines: AuditLine[], now: Date): Promise<Message> {
  const who = target.kind === 'resource' ? target.name : await personName(app, target.id);
  if (lines.length === 0) return { title: `Access audit: ${who} (${days}d)`, text: `Nothing in the audit log about ${who}'s access in the last ${days} days.` };
  const names = new Map(await Promise.all([...new Set(lines.map((l) => l.actor))].map(async (id) => [id, id === API_PERSON.id ? API_PERSON.name : await personName(app, id)] as const)));
  const text = [...lines].reverse().map((l) => `- ${formatTime(l.at, app.config.timezone, now)} · *${l.subject}* ${l.action.startsWith('refused:') ? `⛔ ${l.action}` : l.action} by ${names.get(l.actor) ?? l.actor} (${l.source}${typeof l.data.platformUserId === 'string' ? ` ${l.data.platformUserId}` : ''})${describe(l) ? ` · ${describe(l)}` : ''}`).join('\n');
  return {
    title: `Access audit: ${who} (${days}d)`,
    text,
    context: `${lines.length} row${lines.length === 1 ? '' : 's'}${lines.length === 50 ? ' (the newest 50)' : ''} from the hash-chained audit log · the whole log: GET /api/v1/audit · check it: tread audit verify`,
  };
}
