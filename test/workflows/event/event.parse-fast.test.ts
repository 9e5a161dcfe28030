/**
 * The Alertmanager fast path (no zod for bodies zod would take as they come) against zod itself: for the captured
 * bodies and thousands of mutations of them (missing, null, wrongly typed, over-long and unknown fields, bodies that are
 * not objects), parseAlertmanager must give exactly what zod gives — the same events, the same raw alerts with their
 * keys in the same order (the content hash is taken of them), the same issues — and the fast path must decide the
 * valid ones.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IntegrationConfig } from '../../../src/workflows/event/event.config.js';
import { fastAlertmanager, parseAlertmanager, parseAlertmanagerWithZod } from '../../../src/workflows/event/event.parse.js';

const integration = { name: 'prometheus', kind: 'alertmanager', service: 'checkout' } as IntegrationConfig;
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../../fixtures/alertmanager/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const bodies = [fixture('firing.json'), fixture('resolved.json')];

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const ODD_VALUES: unknown[] = [undefined, null, 0, 4, '', '4', 'firing', 'resolved', 'x'.repeat(300), true, [], ['a'], {}, { a: 'b' }, { a: 1 }, { a: null }];
const BODY_KEYS = ['version', 'receiver', 'status', 'groupKey', 'externalURL', 'alerts', 'groupLabels', 'extra'];
const ALERT_KEYS = ['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint', 'unknownKey', 'zzz'];

function mutate(body: Record<string, unknown>, rnd: () => number): unknown {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const copy = structuredClone(body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
  const changes = 1 + Math.floor(rnd() * 3);
  for (let c = 0; c < changes; c++) {
    const where = rnd();
    if (where < 0.05) return pick([null, [], 'text', 5, [copy]]);
    if (where < 0.3) {
      const key = pick(BODY_KEYS);
      const value = pick(ODD_VALUES);
      if (value === undefined) delete copy[key]; else copy[key] = value;
    } else if (Array.isArray(copy.alerts) && copy.alerts.length) {
      const alert = copy.alerts[Math.floor(rnd() * copy.alerts.length)]!;
      if (typeof alert !== 'object' || alert === null) continue;
      const key = pick(ALERT_KEYS);
      if (rnd() < 0.3 && (key === 'labels' || key === 'annotations') && typeof alert[key] === 'object' && alert[key] !== null) {
        // as JSON.parse makes them: an own property, even one named __proto__
        Object.defineProperty(alert[key], pick(['severity', 'new', 'alertname', '10', '__proto__']), { value: pick(ODD_VALUES), enumerable: true, writable: true, configurable: true });
      } else {
        const value = pick(ODD_VALUES);
        if (value === undefined) delete alert[key]; else alert[key] = value;
      }
    }
  }
  return copy;
}

/** The JSON texts of what each parser gave (key order included: the content hash is taken of the raw alert). */
const text = (r: ReturnType<typeof parseAlertmanager>) => JSON.stringify(r);

describe('the Alertmanager fast path', () => {
  it('takes the captured bodies itself and gives exactly what zod gives', () => {
    for (const body of bodies) {
      expect(fastAlertmanager(body)).toBeDefined();
      const fast = parseAlertmanager(body, integration);
      const zod = parseAlertmanagerWithZod(body, integration);
      expect(fast).toEqual(zod);
      expect(text(fast)).toBe(text(zod));
    }
  });

  it('gives exactly what zod gives for thousands of mutated bodies, valid or not', () => {
    const rnd = random(20261202);
    let fastTaken = 0;
    let invalid = 0;
    for (let i = 0; i < 4000; i++) {
      const body = mutate(bodies[i % bodies.length]!, rnd);
      const zod = parseAlertmanagerWithZod(body, integration);
      const fast = parseAlertmanager(body, integration);
      if (text(fast) !== text(zod)) throw new Error(`differs for ${JSON.stringify(body).slice(0, 2000)}:\n fast ${text(fast).slice(0, 1000)}\n zod  ${text(zod).slice(0, 1000)}`);
      if (fastAlertmanager(body)) {
        fastTaken++;
        // the fast path never takes a body zod refuses
        expect(zod.ok).toBe(true);
      }
      if (!zod.ok) invalid++;
    }
    // both kinds were exercised in numbers
    expect(fastTaken).toBeGreaterThan(500);
    expect(invalid).toBeGreaterThan(500);
  });

  it('leaves a body with a __proto__ key to zod, and does not change the caller\'s objects', () => {
    const body = JSON.parse('{"alerts":[{"status":"firing","labels":{"__proto__":"x","alertname":"A"}}]}') as unknown;
    expect(fastAlertmanager(body)).toBeUndefined();
    expect(text(parseAlertmanager(body, integration))).toBe(text(parseAlertmanagerWithZod(body, integration)));
    const firing = structuredClone(bodies[0]!);
    const before = JSON.stringify(firing);
    const r = parseAlertmanager(firing, integration);
    if (!r.ok) throw new Error('fixture');
    r.events[0]!.labels.changed = 'yes';
    expect(JSON.stringify(firing)).toBe(before);
  });
});
