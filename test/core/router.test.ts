/** The router: aliases declared by workflows, "not available yet" derived from what is not registered, button permissions. */
import { describe, expect, it } from 'vitest';
import type { AppContext } from '../../src/core/app.js';
import type { Inbound, Reply } from '../../src/core/inbound.js';
import { silentLogger } from '../../src/core/logger.js';
import { Permissions } from '../../src/core/permissions.js';
import { Router } from '../../src/core/router.js';
import { Seam } from '../../src/core/seam.js';
import type { Workflow } from '../../src/core/workflow.js';
import { parseOrganisation, plannedCommands } from '../../src/workflows/index.js';

const config = parseOrganisation('people:\n  - { id: alice, name: Alice, roles: [responder] }\n  - { id: dave, name: Dave }\n', 'test', {});

/** A stand-in `access` workflow: echoes what it was asked, and declares `/request access …` as its own. */
const access: Workflow = {
  name: 'access',
  permissions: { 'access.revoke': { roles: ['responder'], what: 'revoke grants' } },
  commands: [{ name: 'access', summary: 'access', usage: [], handle: async (i) => ({ kind: 'ephemeral', message: { text: `access got "${i.text}"` } }) }],
  aliases: [{ from: { command: 'request', words: ['access'] }, to: { command: 'access', words: ['request'] } }],
  actions: { 'access.revoke': { permission: 'access.revoke', handle: async (i) => ({ kind: 'ephemeral', message: { text: `revoked ${i.value}` } }) } },
};

function routerWith(workflows: Workflow[], planned: Record<string, string> = plannedCommands): Router {
  const app = { config, log: silentLogger, permissions: new Permissions(workflows), seam: new Seam(workflows) } as unknown as AppContext;
  return new Router(app, workflows, planned);
}

const text = (r: Reply) => (r.kind === 'ephemeral' ? r.message.text : '');
const command = (name: string, body: string, who = 'alice'): Inbound => ({ kind: 'command', name, text: body, actor: { platform: 'console', id: who }, where: { platform: 'console', channel: 'console' }, deliveryId: '' });

describe('router', () => {
  it('an alias declared by a workflow sends `/request access …` to `/access request …`', async () => {
    const r = routerWith([access]);
    expect(text(await r.handle(command('request', 'access prod-db read for 4h need it')))).toBe('access got "request prod-db read for 4h need it"');
    expect(text(await r.handle(command('access', 'list mine')))).toBe('access got "list mine"');
  });

  it('"not available yet" is derived from what is not registered: a registered workflow leaves the list', async () => {
    const planned = { access: 'access requests and time-bound grants' };
    const without = routerWith([], planned);
    expect(text(await without.handle(command('access', 'list')))).toMatch(/^\/access \(access requests and time-bound grants\) is not available yet/);
    expect(text(await without.help())).toMatch(/`\/access` .*coming soon/);
    const withAccess = routerWith([access], planned);
    expect(withAccess.servedCommands()).toContain('access');
    expect(text(await withAccess.help())).not.toMatch(/`\/access` .*coming soon/);
    // every workflow of the product is served now: nothing is planned any more
    expect(plannedCommands).toEqual({});
  });

  it('a button is refused before its handler when the person lacks the permission it declares', async () => {
    const r = routerWith([access]);
    const press = (who: string): Inbound => ({ kind: 'action', actionId: 'access.revoke', value: 'GRT-4', actor: { platform: 'console', id: who }, where: { platform: 'console', channel: 'console' }, deliveryId: '' });
    expect(text(await r.handle(press('alice')))).toBe('revoked GRT-4');
    expect(text(await r.handle(press('dave')))).toBe('Dave may not revoke grants GRT-4: that needs the responder role. Ask an admin to add it to your entry in the config.');
  });
});
