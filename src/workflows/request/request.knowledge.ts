/**
 * Knowledge answers: markdown articles of the knowledge folder indexed into `knowledge_articles` (a generated tsvector,
 * title weighted A and body B, with a GIN index), searched with `websearch_to_tsquery`, ranked with `ts_rank_cd`, with
 * `ts_headline` snippets; published known errors join through the problem workflow's declared search, when it runs.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { queryRows, schema, type DbOrTx } from '../../../db/client.js';
import type { AppContext } from '../../core/app.js';
import { SCHEDULER_ACTOR } from '../../core/identity.js';
import type { OpContext } from '../../core/workflow.js';

/** One answer: a knowledge article (`KB-3`) or a published known error (`KE-2`). */
export interface Answer {
  id: string;
  kind: 'article' | 'known_error';
  title: string;
  snippet: string;
  rank: number;
  /** Known errors: the workaround, if one is published. */
  workaround?: string | null;
  /** Articles: the file inside the knowledge folder. */
  path?: string;
  /** Matches only some of the words (ranked after every answer that matches them all). */
  partial?: boolean;
}

/** The knowledge folder, relative to the organisation file (or the working directory when the config came from text). */
export function knowledgeFolder(app: AppContext): string | undefined {
  const k = app.config.knowledge;
  return k ? resolve(app.config.baseDir ?? process.cwd(), k.folder) : undefined;
}

async function markdownFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await markdownFiles(path)));
    else if (/\.(md|markdown)$/i.test(e.name)) out.push(path);
  }
  return out;
}

/** Title (the first `# ` heading, else the file name) and body of a markdown article. */
export function parseArticle(path: string, text: string): { title: string; body: string } {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const h = lines.findIndex((l) => /^#\s+\S/.test(l));
  if (h >= 0 && lines.slice(0, h).every((l) => l.trim() === '')) {
    return { title: lines[h]!.replace(/^#\s+/, '').trim(), body: lines.slice(h + 1).join('\n').trim() };
  }
  const name = path.split(/[\\/]/).pop()!.replace(/\.(md|markdown)$/i, '').replace(/[-_]+/g, ' ');
  return { title: name.charAt(0).toUpperCase() + name.slice(1), body: text.trim() };
}

/** What a re-index did. */
export interface ReindexResult {
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
}

/** Reads the knowledge folder and writes what changed: new and edited files, and files that are gone. */
export async function reindexKnowledge(app: AppContext, now: Date, db: DbOrTx = app.db): Promise<ReindexResult | undefined> {
  const folder = knowledgeFolder(app);
  if (!folder) return undefined;
  const isDir = await stat(folder).then((s) => s.isDirectory(), () => false);
  if (!isDir) {
    app.log.warn({ folder }, 'knowledge folder not found: /ask answers from nothing until it exists');
    return undefined;
  }
  const files = await markdownFiles(folder);
  const read = await Promise.all(files.map(async (file) => {
    const text = await readFile(file, 'utf8');
    return { path: relative(folder, file).split(sep).join('/'), text, hash: createHash('sha256').update(text).digest('hex') };
  }));
  const result: ReindexResult = { added: 0, updated: 0, removed: 0, unchanged: 0 };
  await db.transaction(async (tx) => {
    const stored = new Map((await tx.select({ id: schema.knowledgeArticles.id, path: schema.knowledgeArticles.path, hash: schema.knowledgeArticles.hash }).from(schema.knowledgeArticles)).map((r) => [r.path, r]));
    for (const f of read) {
      const known = stored.get(f.path);
      stored.delete(f.path);
      if (known?.hash === f.hash) { result.unchanged++; continue; }
      const { title, body } = parseArticle(f.path, f.text);
      await tx.insert(schema.knowledgeArticles).values({ path: f.path, title, body, hash: f.hash, indexedAt: now })
        .onConflictDoUpdate({ target: schema.knowledgeArticles.path, set: { title, body, hash: f.hash, indexedAt: now } });
      if (known) result.updated++; else result.added++;
    }
    const gone = [...stored.values()].map((r) => r.id);
    if (gone.length) await tx.delete(schema.knowledgeArticles).where(inArray(schema.knowledgeArticles.id, gone));
    result.removed = gone.length;
  });
  if (result.added || result.updated || result.removed) app.log.info({ folder, ...result }, 'knowledge re-indexed');
  return result;
}

interface ArticleHit {
  id: number;
  title: string;
  path: string;
  rank: number;
  snippet: string;
  partial?: boolean;
}

const HEADLINE = 'StartSel=*, StopSel=*, MaxWords=25, MinWords=10, MaxFragments=1';

/**
 * Articles matching a question, best first: every word must match (`websearch_to_tsquery`), and when that finds fewer
 * than `limit`, articles matching any of the words follow (ranked the same way, by `ts_rank_cd`).
 */
export async function searchArticles(db: DbOrTx, question: string, limit = 3): Promise<ArticleHit[]> {
  const all = await queryRows<ArticleHit>(db, sql`select a.id, a.title, a.path, ts_rank_cd(a.search, q.q)::float8 as rank,
      ts_headline('english', a.body, q.q, ${HEADLINE}) as snippet
    from knowledge_articles a, websearch_to_tsquery('english', ${question}) as q(q)
    where a.search @@ q.q order by rank desc, a.id limit ${limit}`);
  // any-word matching only for plain words: a phrase ("…") or an excluded word (-word) means what it says
  if (all.length >= limit || /"|(^|\s)-\S/.test(question)) return all.map(norm);
  const seen = all.map((a) => Number(a.id));
  const any = await queryRows<ArticleHit>(db, sql`select a.id, a.title, a.path, ts_rank_cd(a.search, q.q)::float8 as rank,
      ts_headline('english', a.body, q.q, ${HEADLINE}) as snippet
    from knowledge_articles a, (select nullif(replace(websearch_to_tsquery('english', ${question})::text, ' & ', ' | '), '')::tsquery) as q(q)
    where q.q is not null and a.search @@ q.q ${seen.length ? sql`and a.id not in ${seen}` : sql``} order by rank desc, a.id limit ${limit - all.length}`);
  return [...all, ...any.map((a) => ({ ...a, partial: true }))].map(norm);
}

function norm(h: ArticleHit): ArticleHit {
  return { ...h, id: Number(h.id), rank: Number(h.rank) };
}

const knownErrorsSchema = z.array(z.object({
  id: z.string(), title: z.string(), snippet: z.string(), workaround: z.string().nullable(), rank: z.number(),
}));

/** Known errors matching a question, through `problem.search_known_errors` when a workflow offers it; none otherwise. */
async function searchKnownErrors(op: OpContext, question: string, limit: number): Promise<Answer[]> {
  if (!op.app.seam.offers('problem.search_known_errors')) return [];
  try {
    const found = knownErrorsSchema.parse(await op.app.seam.call('problem.search_known_errors', op, { query: question, limit }));
    return found.map((k) => ({ id: k.id, kind: 'known_error' as const, title: k.title, snippet: k.snippet, rank: k.rank, workaround: k.workaround }));
  } catch (e) {
    op.app.log.warn({ err: (e as Error).message }, 'known error search failed; answering from the knowledge folder only');
    return [];
  }
}

/** The best answers to a question: articles and known errors merged by rank, top `limit`. */
export async function answers(app: AppContext, question: string, limit = 3): Promise<Answer[]> {
  const now = app.clock.now();
  return app.db.transaction(async (tx) => {
    const articles = (await searchArticles(tx, question, limit)).map((a): Answer => ({ id: `KB-${a.id}`, kind: 'article', title: a.title, snippet: a.snippet, rank: a.rank, path: a.path, ...(a.partial ? { partial: true } : {}) }));
    const known = await searchKnownErrors({ tx, app, now, actor: SCHEDULER_ACTOR }, question, limit);
    // answers matching every word first (articles and known errors by rank), then articles matching some of them
    return [...articles, ...known].sort((a, b) => Number(Boolean(a.partial)) - Number(Boolean(b.partial)) || b.rank - a.rank || a.id.localeCompare(b.id)).slice(0, limit);
  });
}

/** An article by id. */
export async function getArticle(db: DbOrTx, id: number) {
  const [row] = await db.select().from(schema.knowledgeArticles).where(eq(schema.knowledgeArticles.id, id));
  return row;
}
