/** Durations written `90s`, `30m`, `2h`, `3d`, `1w` (and combinations like `1h30m`). */
import { z } from 'zod';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses a duration to milliseconds, or returns undefined. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim().toLowerCase());
  if (!m || text.trim() === '') return undefined;
  const [, w, d, h, mi, s] = m;
  const ms = [w && +w * UNIT_MS.w!, d && +d * UNIT_MS.d!, h && +h * UNIT_MS.h!, mi && +mi * UNIT_MS.m!, s && +s * UNIT_MS.s!]
    .reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0);
  return ms > 0 ? ms : undefined;
}

/** A zod schema for a duration string; yields milliseconds. */
export const durationSchema = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration: write it like 90s, 30m, 2h or 3d` });
    return z.NEVER;
  }
  return ms;
});

/** Formats milliseconds compactly: `41s`, `12m`, `1h 5m`, `3d 2h`. */
export function formatDuration(ms: number): string {
  const neg = ms < 0;
  let s = Math.round(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = d ? [`${d}d`, h ? `${h}h` : ''] : h ? [`${h}h`, m ? `${m}m` : ''] : m ? [`${m}m`, s ? `${s}s` : ''] : [`${s}s`];
  return (neg ? '-' : '') + parts.filter(Boolean).join(' ');
}

/** Formats minutes and seconds the way a response time is read: `0m 41s`. */
export function formatMinSec(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h ${m}m ${s}s` : `${m}m ${s}s`;
}
