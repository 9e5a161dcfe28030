/** The directory lookups approvals use: team members, a person's manager, service owners. */
import { describe, expect, it } from 'vitest';
import { directoryOf } from '../../src/core/identity.js';
import { parseOrganisation } from '../../src/workflows/index.js';

const config = parseOrganisation(`
people:
  - { id: alice, name: Alice, manager: carol }
  - { id: bob, name: Bob, manager: carol }
  - { id: carol, name: Carol }
teams:
  - { id: web, members: [alice, bob] }
services:
  - { name: checkout, team: web, owners: [alice, carol] }
`, 'test', {});

describe('directory', () => {
  const dir = directoryOf(config);
  it('knows team members, managers and service owners by id', () => {
    expect(dir.teamMembers('web')).toEqual(['alice', 'bob']);
    expect(dir.managerOf('alice')).toBe('carol');
    expect(dir.managerOf('carol')).toBeUndefined();
    expect(dir.serviceOwners('checkout')).toEqual(['alice', 'carol']);
  });
  it('answers undefined for what the config does not name', () => {
    expect(dir.teamMembers('ops')).toBeUndefined();
    expect(dir.serviceOwners('nope')).toBeUndefined();
    expect(dir.managerOf('zed')).toBeUndefined();
  });
});
