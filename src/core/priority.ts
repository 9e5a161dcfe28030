/** Priority from impact and urgency (ITIL), for every record that has one: incidents, problems. */

/** Impact and urgency levels. */
export const LEVELS = ['high', 'medium', 'low'] as const;
/** One of LEVELS. */
export type Level = (typeof LEVELS)[number];
const LEVEL_NUMBER: Record<Level, number> = { high: 1, medium: 2, low: 3 };

/** Priority = impact + urgency − 1: P1 (high × high) … P5 (low × low). */
export function priorityOf(impact: Level, urgency: Level): number {
  return LEVEL_NUMBER[impact] + LEVEL_NUMBER[urgency] - 1;
}

/** An impact/urgency pair that gives a priority (for `priority INC-n P2`). */
export function levelsForPriority(priority: number): { impact: Level; urgency: Level } {
  const table: Record<number, [Level, Level]> = { 1: ['high', 'high'], 2: ['high', 'medium'], 3: ['medium', 'medium'], 4: ['medium', 'low'], 5: ['low', 'low'] };
  const [impact, urgency] = table[priority] ?? ['medium', 'medium'];
  return { impact, urgency };
}

/** Parses `high|medium|low` (any case). */
export function parseLevel(text: string | undefined): Level | undefined {
  return LEVELS.find((l) => l === text?.toLowerCase());
}
