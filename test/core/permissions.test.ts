/** Permissions are declared by each workflow; the core only checks them. Undeclared ones are refused, never admin-only. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../db/client.js';
import { isDomainError } from '../../src/core/errors.js';
import type { Person } from '../../src/core/identity.js';
import { Permissions, permissionWords } from '../../src/core/permissions.js';
import type { Workflow } from '../../src/core/workflow.js';
import { startTread } from '../../src/runtime.js';
import { allWorkflows, parseOrganisation } from '../../src/workflows/index.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const person = (roles: string[]): Person => ({ id: 'p', name: 'Pat', roles: new Set(roles as never[]), known: true });

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('permissions declared by the workflows', () => {
  const table = new Permissions(allWorkflows);

  it('every permission named in the workflows\' code (checks and button declarations) is declared by some workflow', () => {
    const named = new Set<string>();
    for (const file of sources(join(root, 'src', 'workflows'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/requirePermission\([^,]+,[^,]+,\s*'([a-z_.]+)'/g)) named.add(m[1]!);
      for (const m of text.matchAll(/permission:\s*'([a-z_.]+)'/g)) named.add(m[1]!);
    }
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((n) => !table.has(n))).toEqual([]);
  });

  it('checks roles: admins may do everything, others what their roles allow', () => {
    expect(table.may(person(['requester']), 'incident.create')).toBe(true);
    expect(table.may(person(['requester']), 'incident.ack')).toBe(false);
    expect(table.may(person(['responder']), 'incident.ack')).toBe(true);
    expect(table.may(person(['admin']), 'event.silence')).toBe(true);
  });

  it('a refusal is a coded 403 naming what and the role it needs', () => {
    let error: unknown;
    try { table.require(person(['requester']), 'incident.hold', 'INC-7'); } catch (e) { error = e; }
    expect(isDomainError(error) && error.status).toBe(403);
    expect((error as Error).message).toBe('Pat may not put INC-7 on hold: that needs the responder role. Ask an admin to add it to your entry in the config.');
    expect(permissionWords({ roles: ['responder'], what: 'put {subject} on hold' })).toBe('put on hold');
    expect(permissionWords({ roles: ['responder'], what: 'acknowledge' }, 'INC-7')).toBe('acknowledge INC-7');
  });

  it('an undeclared permission is a programming error, not silently admin-only', () => {
    expect(() => table.may(person(['admin']), 'incident.teleport')).toThrow(/not declared by any workflow/);
    expect(() => table.require(person(['admin']), 'nobody.declared')).toThrow(/not declared/);
  });

  it('refuses declarations outside the workflow\'s namespace, twice, or with unknown roles', () => {
    expect(() => new Permissions([{ name: 'a', permissions: { 'b.x': { roles: ['admin'], what: 'x' } } }])).toThrow(/outside its namespace/);
    expect(() => new Permissions([{ name: 'a', permissions: { 'a.x': { roles: ['admin'], what: 'x' } } }, { name: 'a', permissions: { 'a.x': { roles: ['admin'], what: 'x' } } }])).toThrow(/declared twice/);
    expect(() => new Permissions([{ name: 'a', permissions: { 'a.x': { roles: ['wizard' as never], what: 'x' } } }])).toThrow(/unknown roles wizard/);
  });
});

describe('start-up refuses what nobody declared', () => {
  const config = parseOrganisation('organisation: Test', 'test', {});
  const database = { db: {}, driver: 'pglite' } as unknown as Database;
  const button: Workflow = { name: 'demo', actions: { 'demo.press': { permission: 'demo.press', handle: async () => ({ kind: 'none' }) } } };

  it('a button whose permission no workflow declares stops start-up, naming both', async () => {
    await expect(startTread({ database, config, workflows: [button] })).rejects.toThrow('action demo.press needs permission "demo.press", which no workflow declares');
  });

  it('a timer kind handled twice stops start-up', async () => {
    const twice: Workflow[] = [{ name: 'one', timers: { 'x.tick': async () => undefined } }, { name: 'two', timers: { 'x.tick': async () => undefined } }];
    // (no people in the config: nothing touches the database before the check)
    await expect(startTread({ database, config, workflows: twice })).rejects.toThrow('timer kind x.tick is handled twice (workflow two)');
  });
});
