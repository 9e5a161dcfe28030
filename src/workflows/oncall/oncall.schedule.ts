/** Who is on call: layered rotations plus overrides, evaluated at an instant. Pure: no I/O, no clock. */
import type { RotationLength, ScheduleConfig } from './oncall.config.js';
import {
  addDays, daysBetween, parseLocalDate, parseTimeOfDay, weekday, zonedParts, zonedToUtc, type LocalDate,
} from '../../core/time-zone.js';

const WEEKDAY_INDEX: Record<string, number> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };

/** A layer ready to evaluate. */
export interface Layer {
  name: string;
  people: string[];
  start: LocalDate;
  /** Minutes after local midnight. */
  handoff: number;
  length: RotationLength;
  timeZone: string;
  restrictions?: { days: number[]; from: number; to: number }[];
}

/** A schedule ready to evaluate. */
export interface Schedule {
  name: string;
  title: string;
  team?: string;
  timeZone: string;
  layers: Layer[];
}

/** A chat override: `person` is on call from `from` (inclusive) to `to` (exclusive). Later overrides win. */
export interface Override {
  id?: number;
  person: string;
  from: Date;
  to: Date;
}

/** Who is on call at an instant, and until when (null: no change ahead within the horizon). */
export interface OnCall {
  /** Person id, or null when nobody is on call. */
  person: string | null;
  until: Date | null;
  /** The layer that decided it, or `override`. */
  via?: string;
}

/** A stretch of on-call time of one person. */
export interface Shift {
  person: string;
  from: Date;
  until: Date | null;
}

/** How far ahead `until` and `nextOnCall` look. */
export const HORIZON_MS = 366 * 86_400_000;

/** Builds an evaluable schedule from its config; zones fall back to the schedule's, then the organisation's. */
export function toSchedule(config: ScheduleConfig, orgTimeZone: string): Schedule {
  const scheduleZone = config.timezone ?? orgTimeZone;
  return {
    name: config.name,
    title: config.title ?? config.name,
    team: config.team,
    timeZone: scheduleZone,
    layers: config.layers.map((l, i) => ({
      name: l.name ?? `layer ${i + 1}`,
      people: l.people,
      start: parseLocalDate(l.start)!,
      handoff: parseTimeOfDay(l.handoff)!,
      length: l.length,
      timeZone: l.timezone ?? scheduleZone,
      restrictions: l.restrictions?.map((r) => ({ days: r.days.map((d) => WEEKDAY_INDEX[d]!), from: parseTimeOfDay(r.from)!, to: r.to === '24:00' ? 1440 : parseTimeOfDay(r.to)! })),
    })),
  };
}

/** The instant shift `k` of a layer begins. */
function shiftStart(layer: Layer, k: number): Date {
  if (layer.length.ms !== undefined) return new Date(wallTime(layer.start, layer.handoff, layer.timeZone).getTime() + k * layer.length.ms);
  return wallTime(addDays(layer.start, k * layer.length.days), layer.handoff, layer.timeZone);
}

/** The shift index covering `at` (may be negative: before the layer starts). */
function shiftIndex(layer: Layer, at: Date): number {
  let k: number;
  if (layer.length.ms !== undefined) {
    k = Math.floor((at.getTime() - shiftStart(layer, 0).getTime()) / layer.length.ms);
  } else {
    const local = zonedParts(at, layer.timeZone);
    let days = daysBetween(layer.start, local);
    if (local.hour * 60 + local.minute < layer.handoff) days -= 1;
    k = Math.floor(days / layer.length.days);
  }
  // DST gaps can put the estimate one off: settle it against the real boundaries.
  while (shiftStart(layer, k).getTime() > at.getTime()) k--;
  while (shiftStart(layer, k + 1).getTime() <= at.getTime()) k++;
  return k;
}

/** The instant of a local date plus minutes (1440 and more run into the following days). */
function wallTime(date: LocalDate, minutes: number, timeZone: string): Date {
  const day = addDays(date, Math.floor(minutes / 1440));
  const m = minutes % 1440;
  return zonedToUtc({ ...day, hour: Math.floor(m / 60), minute: m % 60 }, timeZone);
}

/** Restriction windows of a layer overlapping the days around `at`, as instants. */
function windowsAround(layer: Layer, at: Date, daysBefore: number, daysAfter: number): { from: Date; to: Date }[] {
  const out: { from: Date; to: Date }[] = [];
  const today = zonedParts(at, layer.timeZone);
  for (let d = -daysBefore; d <= daysAfter; d++) {
    const date = addDays(today, d);
    const wd = weekday(date);
    for (const r of layer.restrictions ?? []) {
      if (!r.days.includes(wd)) continue;
      out.push({ from: wallTime(date, r.from, layer.timeZone), to: wallTime(date, r.to > r.from ? r.to : r.to + 1440, layer.timeZone) });
    }
  }
  return out;
}

/** A layer's answer at an instant: the person (or null) and the next instant its answer may change. */
export function layerAt(layer: Layer, at: Date): { person: string | null; changeAt: Date } {
  const first = shiftStart(layer, 0);
  if (at.getTime() < first.getTime()) return { person: null, changeAt: first };
  const k = shiftIndex(layer, at);
  const shiftEnd = shiftStart(layer, k + 1);
  const person = layer.people[((k % layer.people.length) + layer.people.length) % layer.people.length]!;
  if (!layer.restrictions?.length) {
    // One person in rotation: handoffs change nothing, so look no further.
    return { person, changeAt: new Set(layer.people).size === 1 ? new Date(8.64e15) : shiftEnd };
  }
  const windows = windowsAround(layer, at, 1, 8);
  const t = at.getTime();
  const inside = windows.filter((w) => w.from.getTime() <= t && t < w.to.getTime());
  let changeAt: number;
  if (inside.length > 0) {
    // Overlapping or back-to-back windows: coverage lasts until the last one that keeps it going ends.
    let end = Math.max(...inside.map((w) => w.to.getTime()));
    for (let grew = true; grew;) {
      grew = false;
      for (const w of windows) if (w.from.getTime() <= end && w.to.getTime() > end) { end = w.to.getTime(); grew = true; }
    }
    changeAt = end;
  } else {
    const next = windows.map((w) => w.from.getTime()).filter((f) => f > t);
    changeAt = next.length ? Math.min(...next) : t + 7 * 86_400_000;
  }
  return { person: inside.length > 0 ? person : null, changeAt: new Date(Math.min(changeAt, shiftEnd.getTime())) };
}

/** One evaluation step: who is on call exactly at `at`, and the next instant anything may change. */
function pointAt(schedule: Schedule, overrides: readonly Override[], at: Date): { person: string | null; via?: string; changeAt: number } {
  const t = at.getTime();
  let changeAt = Infinity;
  let person: string | null = null;
  let via: string | undefined;
  for (const o of overrides) {
    const from = o.from.getTime();
    const to = o.to.getTime();
    if (from > t) changeAt = Math.min(changeAt, from);
    else if (to > t) {
      changeAt = Math.min(changeAt, to);
      person = o.person; // later overrides win
      via = 'override';
    }
  }
  for (const layer of schedule.layers) {
    const answer = layerAt(layer, at);
    changeAt = Math.min(changeAt, answer.changeAt.getTime());
    if (via === 'override') continue;
    if (answer.person !== null) { person = answer.person; via = layer.name; } // later layers win where they cover
  }
  return { person, via, changeAt };
}

/** Who is on call at `at`, and until when that person stays on call (consecutive pieces merged). */
export function whoIsOnCall(schedule: Schedule, overrides: readonly Override[], at: Date): OnCall {
  const now = pointAt(schedule, overrides, at);
  const limit = at.getTime() + HORIZON_MS;
  let cursor = now.changeAt;
  for (let i = 0; i < 10_000 && cursor <= limit; i++) {
    const p = pointAt(schedule, overrides, new Date(cursor));
    if (p.person !== now.person) return { person: now.person, until: new Date(cursor), via: now.via };
    cursor = p.changeAt;
  }
  return { person: now.person, until: null, via: now.via };
}

/** The next person on call after the current one (skipping gaps with nobody), with their stretch; undefined if none within the horizon. */
export function nextOnCall(schedule: Schedule, overrides: readonly Override[], at: Date): Shift | undefined {
  let current = whoIsOnCall(schedule, overrides, at);
  const limit = at.getTime() + HORIZON_MS;
  for (let i = 0; i < 1000 && current.until && current.until.getTime() <= limit; i++) {
    const from = current.until;
    const next = whoIsOnCall(schedule, overrides, from);
    if (next.person !== null) return { person: next.person, from, until: next.until };
    current = next;
  }
  return undefined;
}

/** The shifts between two instants (for listings and tests), merged per person. */
export function shiftsBetween(schedule: Schedule, overrides: readonly Override[], from: Date, to: Date): Shift[] {
  const out: Shift[] = [];
  let at = from;
  for (let i = 0; i < 10_000 && at.getTime() < to.getTime(); i++) {
    const who = whoIsOnCall(schedule, overrides, at);
    if (who.person !== null) out.push({ person: who.person, from: at, until: who.until });
    if (!who.until) break;
    at = who.until;
  }
  return out;
}
