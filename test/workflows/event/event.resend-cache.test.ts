/** The cache of parsed batch bodies: hits only for the same integration object, bounded by bodies, events and bytes. */
import { describe, expect, it } from 'vitest';
import type { IntegrationConfig } from '../../../src/workflows/event/event.config.js';
import { ResendCache } from '../../../src/workflows/event/event.routes.js';
import type { IncomingEvent } from '../../../src/workflows/event/event.parse.js';

const integration = { name: 'prom', kind: 'alertmanager', token: 't' } as unknown as IntegrationConfig;
const events = (n: number) => Array.from({ length: n }, (_, i) => ({ dedupKey: `k${i}` }) as unknown as IncomingEvent);
const body = (text: string) => Buffer.from(text);

describe('ResendCache', () => {
  it('hits for a byte-identical body of the same integration, misses for another body or a reloaded integration', () => {
    const cache = new ResendCache();
    const key = cache.key(integration, body('{"alerts":[1]}'));
    const parsed = events(2);
    cache.set(key, integration, parsed, 14);
    expect(cache.get(cache.key(integration, body('{"alerts":[1]}')), integration)).toBe(parsed);
    expect(cache.get(cache.key(integration, body('{"alerts":[2]}')), integration)).toBeUndefined();
    expect(cache.get(key, { ...integration })).toBeUndefined();
    expect(cache.key({ ...integration, name: 'other' } as IntegrationConfig, body('{"alerts":[1]}'))).not.toBe(key);
  });

  it('forgets the oldest bodies beyond its bounds (bodies, events, bytes), and a replaced body is counted once', () => {
    const byBodies = new ResendCache(3, 1000, 1_000_000);
    for (let i = 0; i < 5; i++) byBodies.set(`b${i}`, integration, events(1), 10);
    expect(byBodies.size).toEqual({ bodies: 3, events: 3, bytes: 30 });
    expect(byBodies.get('b0', integration)).toBeUndefined();
    expect(byBodies.get('b4', integration)).toHaveLength(1);

    const byEvents = new ResendCache(100, 100, 1_000_000);
    for (let i = 0; i < 10; i++) byEvents.set(`e${i}`, integration, events(20), 10);
    expect(byEvents.size.events).toBeLessThanOrEqual(100);
    expect(byEvents.get('e9', integration)).toHaveLength(20);

    const byBytes = new ResendCache(100, 1000, 1000);
    for (let i = 0; i < 10; i++) byBytes.set(`y${i}`, integration, events(1), 200);
    expect(byBytes.size.bytes).toBeLessThanOrEqual(1000);
    expect(byBytes.get('y9', integration)).toHaveLength(1);

    const replaced = new ResendCache(100, 1000, 1_000_000);
    for (let i = 0; i < 50; i++) replaced.set('same', { ...integration } as IntegrationConfig, events(5), 100);
    expect(replaced.size).toEqual({ bodies: 1, events: 5, bytes: 100 });
  });

  it('does not keep a body too large for it', () => {
    const cache = new ResendCache(100, 100, 1_000_000);
    cache.set('big', integration, events(60), 10);
    expect(cache.size.bodies).toBe(0);
  });
});
