/**
 * The known error database's search and its hints on incidents. Full-text search on the generated weighted `tsvector`
 * (symptoms and error codes A, title B, workaround and root cause C) with a GIN index, ranked by `ts_rank_cd`, filtered
 * by service, matched words highlighted by `ts_headline`; the same on PGlite and PostgreSQL, no extension. People search
 * with every word (`websearch_to_tsquery`, then any word); a new incident searches with any of its significant words,
 * after its commit, and what matches above the threshold shows on its card with "Workaround worked" / "Not related".
 * Feedback counts: "not related" lowers that known error's rank for that service, "worked" raises it a little.
 *
 * At 100 000 known errors an incident's common words match thousands, so a search ranks a bounded set: the matches in
 * the service's scope (one GIN index on scope and words), of which the best PRESCORED by `ts_rank` are ranked by
 * `ts_rank_cd`, then by feedback; without a service, the matches of the strictest tier with enough of them (every word,
 * all but one, all but two, any word). Headlines only for the answers.
 */
import { and, eq, sql, type SQL } from 'drizzle-orm';
import { queryRows, schema, type DbOrTx, type Tx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { auditActor } from '../../core/audit.js';
import { badInput, notFound } from '../../core/errors.js';
import { personName, SCHEDULER_ACTOR, type Actor } from '../../core/identity.js';
import { requirePermission } from '../../core/permissions.js';
import { addTimeline } from '../../core/timeline.js';
import type { CardPart, RecordEvents } from '../../core/workflow.js';
import { incidentPart, knownErrorSubject, problemSubject, type HintLine } from './problem.messages.js';
import { getProblem, linkIncidents, opOf, problemOfIncident, refreshProblemCard } from './problem.service.js';
import { getKnownError } from './problem.versions.js';

/** A known error found by a search. */
export interface KnownErrorHit {
  id: number;
  title: string;
  workaround: string | null;
  services: string[];
  rank: number;
  snippet: string;
  /** Matches only some of the words (after every answer that matches them all). */
  partial?: boolean;
}

/** What a search asks for. */
export interface KnownErrorQuery {
  /** Words as typed (every word must match), or text whose significant words are ORed (`any`). */
  text: string;
  mode: 'all' | 'any';
  /** Only known errors of this service (and those naming no service); feedback for this service adjusts the rank. */
  service?: string | null;
  limit: number;
}

const HEADLINE = 'StartSel=*, StopSel=*, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "';
/** Candidates ranked before feedback adjusts the order (feedback moves known errors within these). */
const CANDIDATES = 50;
/**
 * Matches `ts_rank_cd` ranks: the best by the cheaper `ts_rank` (the same weights; it counts a word's repeats less).
 * Ranking every match with `ts_rank_cd` was most of a hint search's time when a query's common words matched thousands.
 */
const PRESCORED = 200;
/** Matches looked at, at most: a guard for a query matching more (then ranked among these, in storage order). */
const MAX_MATCHES = 10_000;
/**
 * Any word and no service: a common word matches a large share of all known errors, so the matches are taken from the
 * strictest tier that has enough: every word, all but one, all but two (of the first TIER_WORDS), then any word; at
 * most TIER_MATCHES from each (500: at 2 000 the any-word tier's ranking made a search without a service p95 26 ms on
 * PostgreSQL at 100 000 known errors, 18 ms at 500, with a hint above the threshold for every one of 1 000 titles).
 */
const TIER_ENOUGH = 50;
const TIER_MATCHES = 500;
const TIER_WORDS = 8;
/** Words of an incident used for matching, at most. */
const MAX_WORDS = 40;

/**
 * The significant words of an incident's text (deduplicated, at most MAX_WORDS; stop words go in SQL). Words naming the
 * service are left out: the search is filtered by that service already, so they would match nearly every candidate.
 */
export function significantWords(parts: readonly (string | null | undefined)[], service?: string | null): string {
  const skip = new Set(service ? [service.toLowerCase(), ...service.toLowerCase().split(/[-._]/)] : []);
  const seen = new Set<string>();
  const words: string[] = [];
  for (const part of parts) {
    for (const w of (part ?? '').slice(0, 4000).split(/[^\p{L}\p{N}_.\-]+/u)) {
      const word = w.replace(/^[.\-_]+|[.\-_]+$/g, '');
      const key = word.toLowerCase();
      if (word.length < 2 || seen.has(key) || skip.has(key)) continue;
      seen.add(key);
      words.push(word);
      if (words.length >= MAX_WORDS) return words.join(' ');
    }
  }
  return words.join(' ');
}

/** The words a new incident is matched with: its title, description and alert labels. */
export function incidentWords(e: Pick<RecordEvents['incident.opened'], 'title' | 'description' | 'labels' | 'service'>): string {
  return significantWords([e.title, e.description, ...Object.values(e.labels ?? {})], e.service);
}

/**
 * The query (`q.q`) and the matches (`m`: id and search vector of published known errors). Every word: as typed
 * (`websearch_to_tsquery`). Any word: the words' lexemes ORed (`websearch_to_tsquery` alone would require all of them);
 * within a service, every match (the service's share is small, and one GIN index on scope and words finds it); without
 * one, the strictest tier with enough matches (see TIER_ENOUGH).
 */
function matchesOf(q: KnownErrorQuery, service: string | null): SQL {
  const published = sql`k.state = 'published'`;
  if (q.mode === 'all' || service) {
    const query = q.mode === 'all'
      ? sql`websearch_to_tsquery('english', ${q.text})`
      : sql`nullif(replace(plainto_tsquery('english', ${q.text})::text, ' & ', ' | '), '')::tsquery`;
    return sql`q as (select ${query} as q),
    m as (
      select k.id, k.search from known_errors k, q
      where q.q is not null and ${published} and k.search @@ q.q ${service ? sql`and k.scope && array[${service}::text, '*']` : sql``}
      limit ${MAX_MATCHES}
    )`;
  }
  // tiers: every word (of the first TIER_WORDS), all but one, all but two (an error number or a word no known error has
  // rules out the stricter ones), any word; a tier runs only while the stricter ones found fewer than TIER_ENOUGH
  const tier = (n: number, fewer: SQL, stricter: string[]) => sql`t${sql.raw(String(n))} as materialized (
      select k.id, k.search from known_errors k, q, subsets s
      where ${sql.raw(stricter.map((t) => `(select count(*) from ${t}) < ${TIER_ENOUGH} and `).join(''))}q.q is not null and ${published} and k.search @@ ${fewer}
      limit ${TIER_MATCHES}
    )`;
  return sql`w as (select plainto_tsquery('english', ${q.text}) as every),
    q as (select nullif(replace(every::text, ' & ', ' | '), '')::tsquery as q, (string_to_array(every::text, ' & '))[:${TIER_WORDS}] as words from w),
    subsets as (
      select array(select array_to_string(q.words[:i - 1] || q.words[i + 1:], ' & ')::tsquery from q, generate_subscripts(q.words, 1) i where cardinality(q.words) > 1) as but1,
        array(
          select array_to_string(array(select x from unnest(q.words) with ordinality u(x, n) where n not in (i, j)), ' & ')::tsquery
          from q, generate_subscripts(q.words, 1) i, generate_subscripts(q.words, 1) j where i < j and cardinality(q.words) > 2
        ) as but2
      from q
    ),
    ${tier(0, sql`nullif(array_to_string(q.words, ' & '), '')::tsquery`, [])},
    ${tier(1, sql`any(s.but1)`, ['t0'])},
    ${tier(2, sql`any(s.but2)`, ['t0', 't1'])},
    ${tier(3, sql`q.q`, ['t0', 't1', 't2'])},
    m as (select distinct on (id) id, search from (select * from t0 union all select * from t1 union all select * from t2 union all select * from t3) u order by id)`;
}

/** Known errors matching a query, best first (retired ones never match). */
export async function searchKnownErrors(db: DbOrTx, q: KnownErrorQuery): Promise<KnownErrorHit[]> {
  if (!q.text.trim() || q.limit <= 0) return [];
  const service = q.service ?? null;
  const rows = await queryRows<KnownErrorHit>(db, sql`with ${matchesOf(q, service)},
    p as (select m.id, m.search from m, q order by ts_rank(m.search, q.q) desc, m.id limit ${PRESCORED}),
    c as (select p.id, ts_rank_cd(p.search, q.q) as raw from p, q order by raw desc, p.id limit ${CANDIDATES}),
    f as (
      select h.known_error_id as id, count(*) filter (where h.feedback = 'worked') as worked, count(*) filter (where h.feedback = 'not_related') as unrelated
      from kedb_hints h where ${service ? sql`h.service = ${service}` : sql`false`} and h.known_error_id in (select id from c) group by h.known_error_id
    ),
    r as (
      select c.id, (c.raw * least(1 + 0.1 * coalesce(f.worked, 0), 2) / (1 + coalesce(f.unrelated, 0)))::float8 as rank
      from c left join f on f.id = c.id order by rank desc, c.id limit ${q.limit}
    )
    select k.id, k.title, k.workaround, k.services, r.rank,
      ts_headline('english', k.symptoms || ' — ' || coalesce(k.workaround, ''), q.q, ${HEADLINE}) as snippet
    from r join known_errors k on k.id = r.id, q order by r.rank desc, r.id`);
  return rows.map((r) => ({ ...r, id: Number(r.id), rank: Number(r.rank) }));
}

/** `/problem kedb …` and REST: every word first, then known errors matching some of the words (flagged partial). */
export async function searchForPeople(db: DbOrTx, text: string, service: string | undefined, limit = 5): Promise<KnownErrorHit[]> {
  const all = await searchKnownErrors(db, { text, mode: 'all', service, limit });
  // some-word matches only for plain words: a phrase ("…") or an excluded word (-word) means what it says
  if (all.length >= limit || /"|(^|\s)-\S/.test(text)) return all;
  const some = await searchKnownErrors(db, { text, mode: 'any', service, limit: limit + all.length });
  return [...all, ...some.filter((s) => !all.some((a) => a.id === s.id)).slice(0, limit - all.length).map((s) => ({ ...s, partial: true }))];
}

/**
 * After a new incident committed: searches the known error database with its title, description and alert labels (its
 * service filters), and puts what ranks at least the threshold on its card. Runs once per incident across replicas (an
 * after-commit timer), and a retry adds nothing twice.
 */
export async function matchNewIncident(tx: Tx, app: AppContext, e: RecordEvents['incident.opened'], now: Date): Promise<number> {
  const { threshold, maxHints } = app.config.problem.kedbMatch;
  if (maxHints === 0) return 0;
  const [seen] = await tx.select({ id: schema.kedbHints.knownErrorId }).from(schema.kedbHints).where(eq(schema.kedbHints.incidentId, e.id)).limit(1);
  if (seen) return 0;
  const text = incidentWords(e);
  const hits = (await searchKnownErrors(tx, { text, mode: 'any', service: e.service, limit: maxHints })).filter((h) => h.rank >= threshold);
  if (hits.length === 0) return 0;
  const inserted = await tx.insert(schema.kedbHints).values(hits.map((h) => ({ incidentId: e.id, knownErrorId: h.id, service: e.service, rank: h.rank, shownAt: now })))
    .onConflictDoNothing().returning({ id: schema.kedbHints.knownErrorId });
  if (inserted.length) await app.seam.call('incident.refresh_card', opOf(tx, app, now, SCHEDULER_ACTOR), { id: e.id });
  return inserted.length;
}

/** Feedback on a hint. */
export type Feedback = 'worked' | 'not_related';

/**
 * "Workaround worked" / "Not related" on an incident's hint. Worked: the incident is linked to the known error's problem
 * (unless it is linked to one already, or the problem is closed) and a note says so on the incident. Returns a sentence.
 */
export async function giveFeedback(tx: Tx, app: AppContext, incidentId: number, knownErrorId: number, feedback: Feedback, actor: Actor, now: Date): Promise<string> {
  requirePermission(app, actor.person, 'problem.feedback');
  const incident = `INC-${incidentId}`;
  const ke = knownErrorSubject(knownErrorId);
  const [hint] = await tx.select().from(schema.kedbHints).where(and(eq(schema.kedbHints.incidentId, incidentId), eq(schema.kedbHints.knownErrorId, knownErrorId))).for('update');
  if (!hint) throw notFound('problem.no_such_hint', `${ke} was not suggested for ${incident}.`);
  if (hint.feedback === feedback) return `Already noted: ${feedback === 'worked' ? `the workaround of ${ke} worked` : `${ke} is not related`} for ${incident}.`;
  await tx.update(schema.kedbHints).set({ feedback, feedbackBy: actor.person.id, feedbackAt: now })
    .where(and(eq(schema.kedbHints.incidentId, incidentId), eq(schema.kedbHints.knownErrorId, knownErrorId)));
  const known = await getKnownError(tx, knownErrorId);
  const op = opOf(tx, app, now, actor);
  await auditActor(tx, actor, { at: now, subject: ke, action: `problem.kedb_${feedback}`, data: { incident, service: hint.service } });
  if (feedback === 'not_related') {
    await app.seam.call('incident.refresh_card', op, { id: incidentId });
    return `Thanks: ${ke} will rank lower for ${hint.service ?? 'incidents without a service'}.`;
  }
  const problem = await getProblem(tx, known.problemId, true);
  const current = await problemOfIncident(tx, incidentId);
  let linked = false;
  if (!current && problem.state !== 'closed' && problem.resolution !== 'duplicate') {
    linked = (await linkIncidents(op, problem, [incidentId], 'feedback', { timeline: false })).length > 0;
  }
  await addTimeline(tx, { subject: problemSubject(problem.id), at: now, actor: actor.person.id, source: actor.source, kind: 'kedb_worked', text: `The workaround of ${ke} worked for ${incident} (${actor.person.name})${linked ? `; ${incident} linked` : ''}` });
  await refreshProblemCard(tx, app, await getProblem(tx, problem.id), now);
  // a note on the incident: its timeline and thread say so, and its card is refreshed
  await app.seam.call('incident.note', op, { id: incidentId, note: `The workaround of known error ${ke} worked${linked ? `; linked to problem ${problemSubject(problem.id)}` : ''}.` });
  return `Thanks: the workaround of ${ke} worked for ${incident}${linked ? `; ${incident} is linked to ${problemSubject(problem.id)}` : ''}.`;
}

/** Reads `INC-7 KE-3` from a hint button. */
export function hintOfButton(value: string): { incident: number; knownError: number } {
  const m = /^INC-(\d+)\s+KE-(\d+)$/i.exec(value.trim());
  if (!m) throw badInput('problem.bad_button', 'That button does not name an incident and a known error.');
  return { incident: Number(m[1]), knownError: Number(m[2]) };
}

/** What problem management adds to an incident's card: its problem and workaround, and the known errors that may match. */
export async function incidentContribution(db: DbOrTx, app: AppContext, subject: string): Promise<CardPart | undefined> {
  const id = Number(subject.slice(4));
  if (!Number.isSafeInteger(id)) return undefined;
  // Every card of every incident asks: its problem and its hints in one statement (one round trip).
  const rows = await queryRows<{ kind: 'problem' | 'hint'; id: number; title: string; state: string; workaround: string | null; feedback: string | null; feedbackBy: string | null }>(db, sql`
    select 'problem' as kind, p.id, p.title, p.state, p.workaround, null::text as feedback, null::text as "feedbackBy", null::real as rank
      from problem_incidents l join problems p on p.id = l.problem_id where l.incident_id = ${id}
    union all
    select 'hint', h.known_error_id, k.title, k.state, k.workaround, h.feedback, h.feedback_by, h.rank
      from kedb_hints h join known_errors k on k.id = h.known_error_id where h.incident_id = ${id}
    order by kind desc, rank desc, id`);
  const problem = rows.find((r) => r.kind === 'problem');
  const hints: HintLine[] = [];
  for (const r of rows) {
    if (r.kind !== 'hint') continue;
    // a retired known error no longer suggests itself, but what people said about it stays
    if (r.state !== 'published' && r.feedback === null) continue;
    hints.push({ knownError: Number(r.id), title: r.title, workaround: r.workaround, feedback: r.feedback as HintLine['feedback'], ...(r.feedbackBy ? { feedbackByName: await personName(app, r.feedbackBy, db) } : {}) });
  }
  return incidentPart(subject, problem ? { row: { id: Number(problem.id), title: problem.title, state: problem.state, workaround: problem.workaround } } : undefined, hints);
}

/** Per known error: hints shown, worked, not related. */
export interface KedbStat {
  id: number;
  title: string;
  state: string;
  shown: number;
  worked: number;
  notRelated: number;
}

/** `/problem kedb stats`: every known error that was ever suggested, most shown first. */
export async function kedbStats(db: DbOrTx, knownErrorId?: number): Promise<KedbStat[]> {
  const rows = await queryRows<KedbStat>(db, sql`select k.id, k.title, k.state, count(h.incident_id)::int as shown,
      (count(*) filter (where h.feedback = 'worked'))::int as worked, (count(*) filter (where h.feedback = 'not_related'))::int as "notRelated"
    from known_errors k join kedb_hints h on h.known_error_id = k.id
    ${knownErrorId !== undefined ? sql`where k.id = ${knownErrorId}` : sql``}
    group by k.id order by shown desc, k.id limit 100`);
  return rows.map((r) => ({ ...r, id: Number(r.id), shown: Number(r.shown), worked: Number(r.worked), notRelated: Number(r.notRelated) }));
}
