/** The problem section of the organisation file: where problem cards go, KEDB matching on new incidents, recurrence detection. */
import { z } from 'zod';
import { channelSchema } from '../../core/config/schemas.js';
import type { OrgConfig } from '../../core/config/org.js';
import { durationSchema } from '../../core/duration.js';
import type { ConfigSection } from '../../core/workflow.js';

const DEFAULT_MATCH = { threshold: 2, maxHints: 2 };
const DEFAULT_RECURRENCE = { count: 3, window: 7 * 86_400_000, similarity: 0.5, every: 86_400_000 };

const settingsSchema = z.object({
  /** Where problem cards and recurrence proposals go when the problem's service has no channel. */
  announce: channelSchema.optional(),
  /**
   * Known errors shown on a new incident's card: those ranked at least `threshold`, at most `maxHints` of them. The rank is
   * `ts_rank_cd` of the incident's words: each word found in the symptoms or error codes adds about 1, in the title 0.4,
   * in the workaround or root cause 0.2; the default 2 asks for about two words of the symptoms.
   */
  kedbMatch: z.object({
    threshold: z.number().min(0).max(100).default(DEFAULT_MATCH.threshold),
    maxHints: z.number().int().min(0, 'use 0 to show no hints').max(5, 'at most 5 hints fit on a card').default(DEFAULT_MATCH.maxHints),
  }).strict().default(DEFAULT_MATCH),
  /** Recurring incidents: `count` incidents of one service with similar titles within `window` are proposed as a problem. */
  recurrence: z.object({
    count: z.number().int().min(2, 'a recurrence needs at least 2 incidents').max(100).default(DEFAULT_RECURRENCE.count),
    window: durationSchema.default(DEFAULT_RECURRENCE.window),
    /** Share of title words (after stemming, stop words dropped) two incidents have in common: 0.5 = half of them. */
    similarity: z.number().gt(0).max(1).default(DEFAULT_RECURRENCE.similarity),
    /** How often the check runs (daily). */
    every: durationSchema.default(DEFAULT_RECURRENCE.every),
  }).strict().default(DEFAULT_RECURRENCE),
}).strict().default({ kedbMatch: DEFAULT_MATCH, recurrence: DEFAULT_RECURRENCE });

const shape = { problem: settingsSchema };

/** The parsed problem section. */
export type ProblemConfig = z.infer<z.ZodObject<typeof shape>>;

declare module '../../core/config/org.js' {
  interface OrgSections extends ProblemConfig {}
}

/** Cross-checks: the recurrence check runs at most once a minute. */
function checkProblemConfig(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const r = org.problem.recurrence;
  if (r.every < 60_000) issue(['problem', 'recurrence', 'every'], 'run the check at most once a minute (write 1d for daily)');
}

/** The problem workflow's section of the organisation file. */
export const problemConfig: ConfigSection = { shape, check: checkProblemConfig };
