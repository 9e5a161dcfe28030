/** databaseUnavailable (which failures are the database being away, answered 503), persistThroughOutage, and DatabaseHealth. */
import { describe, expect, it } from 'vitest';
import { DatabaseHealth, databaseUnavailable, DISK_FULL_READY_MS, DomainError, persistThroughOutage } from '../../src/core/errors.js';

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('databaseUnavailable', () => {
  it.each([
    [coded('ECONNREFUSED'), /cannot reach the database server \(ECONNREFUSED\)/],
    [coded('CONNECTION_CLOSED'), /connection closed \(CONNECTION_CLOSED\)/],
    [coded('CONNECT_TIMEOUT'), /connection closed \(CONNECT_TIMEOUT\)/],
    [coded('57P01', 'terminating connection due to administrator command'), /ended the connection \(57P01\)/],
    [coded('57P03'), /starting up or shutting down/],
    [coded('08006'), /connection failed \(08006\)/],
    [coded('53300', 'sorry, too many clients already'), /out of a resource \(53300: sorry, too many clients/],
    [coded('53100', 'could not extend file "base/5/1": No space left on device'), /disk is full \(53100: could not extend file/],
    [coded('ENOSPC'), /disk is full \(ENOSPC/],
  ])('%s is the database being unavailable', (e, reason) => {
    expect(databaseUnavailable(e)).toMatch(reason);
  });

  it('looks through the causes drizzle wraps the driver\'s error in', () => {
    const wrapped = new Error('Failed query: insert …', { cause: coded('ECONNRESET') });
    expect(databaseUnavailable(wrapped)).toBe('cannot reach the database server (ECONNRESET)');
  });

  it.each([
    [new Error('boom')],
    [coded('23505', 'duplicate key value violates unique constraint')],
    [coded('42P01', 'relation does not exist')],
    [new DomainError('incident.invalid_transition', 'no')],
    [undefined],
    ['a string'],
  ])('%s is not', (e) => {
    expect(databaseUnavailable(e)).toBeUndefined();
  });
});

describe('persistThroughOutage', () => {
  it('tries again while the database is unavailable, then returns what the work returned', async () => {
    let calls = 0;
    const result = await persistThroughOutage(async () => {
      if (++calls < 3) throw coded('CONNECTION_CLOSED');
      return 'stored';
    }, Date.now() + 5_000);
    expect([result, calls]).toEqual(['stored', 3]);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(persistThroughOutage(async () => { calls++; throw coded('23505'); }, Date.now() + 5_000)).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });

  it('gives up with the last error at the deadline', async () => {
    let calls = 0;
    const started = Date.now();
    await expect(persistThroughOutage(async () => { calls++; throw coded('ECONNREFUSED'); }, Date.now() + 400)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('DatabaseHealth (what /readyz says about a full disk)', () => {
  const full = databaseUnavailable(Object.assign(new Error('could not extend file "base/5/16384": No space left on device'), { code: '53100' }))!;

  it('reports a full disk from its failure until a write commits, or until the window passes with no other failure', () => {
    const health = new DatabaseHealth();
    const t0 = 1_000_000;
    expect(health.diskFull(t0)).toBeUndefined();
    health.note('cannot reach the database server (ECONNREFUSED)', t0);
    expect(health.diskFull(t0)).toBeUndefined();
    health.note(full, t0);
    expect(health.diskFull(t0 + 1)).toBe(full);
    expect(health.diskFull(t0 + DISK_FULL_READY_MS - 1)).toBe(full);
    expect(health.diskFull(t0 + DISK_FULL_READY_MS)).toBeUndefined();
    health.note(full, t0 + 2 * DISK_FULL_READY_MS);
    expect(health.diskFull(t0 + 2 * DISK_FULL_READY_MS + 5)).toBe(full);
    health.wrote();
    expect(health.diskFull(t0 + 2 * DISK_FULL_READY_MS + 6)).toBeUndefined();
  });
});
