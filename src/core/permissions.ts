/** Who may do what: each workflow declares its permissions on its `Workflow`; this table holds them and checks people. */
import { ROLES } from './config/org.js';
import { forbidden } from './errors.js';
import { hasRole, type Person } from './identity.js';
import type { Permission, Workflow } from './workflow.js';

/** The permissions every registered workflow declared. */
export class Permissions {
  private readonly table = new Map<string, Permission>();

  /** Builds the table; a name outside its workflow's namespace, declared twice, or with an unknown role stops start-up. */
  constructor(workflows: readonly Pick<Workflow, 'name' | 'permissions'>[]) {
    for (const w of workflows) {
      for (const [name, p] of Object.entries(w.permissions ?? {})) {
        if (!name.startsWith(`${w.name}.`)) throw new Error(`workflow ${w.name} declares permission "${name}" outside its namespace (${w.name}.…)`);
        if (this.table.has(name)) throw new Error(`permission "${name}" is declared twice`);
        const bad = p.roles.filter((r) => !(ROLES as readonly string[]).includes(r));
        if (bad.length || p.roles.length === 0) throw new Error(`permission "${name}" names ${bad.length ? `unknown roles ${bad.join(', ')}` : 'no role'}`);
        this.table.set(name, p);
      }
    }
  }

  /** True when some workflow declared the permission. */
  has(name: string): boolean {
    return this.table.has(name);
  }

  /** The declaration of a permission; an undeclared one is a programming error, never silently admin-only. */
  get(name: string): Permission {
    const p = this.table.get(name);
    if (!p) throw new Error(`permission "${name}" is not declared by any workflow`);
    return p;
  }

  /** True when the person may do it (admins may do everything). */
  may(person: Person, name: string): boolean {
    return this.get(name).roles.some((r) => hasRole(person, r));
  }

  /**
   * Throws a coded 403 error naming what the person may not do and which role it needs. `what` replaces the declared
   * words where one permission covers several things (`make`/`remove on-call overrides`).
   */
  require(person: Person, name: string, subject?: string, what?: string): void {
    if (this.may(person, name)) return;
    const p = this.get(name);
    const words = permissionWords(what ? { ...p, what } : p, subject);
    throw forbidden('auth.forbidden', `${person.name} may not ${words}: that needs the ${p.roles.join(' or ')} role. Ask an admin to add it to your entry in the config.`);
  }
}

/** The words of a permission for a record: `put INC-7 on hold`, `acknowledge INC-7`, `acknowledge`. */
export function permissionWords(p: Permission, subject?: string): string {
  if (p.what.includes('{subject}')) return (subject ? p.what.replace('{subject}', subject) : p.what.replace(/\s*\{subject\}/, '')).trim();
  return subject ? `${p.what} ${subject}` : p.what;
}

/** Throws a coded 403 error when the person may not do the action (see `Permissions.require`). */
export function requirePermission(app: { permissions: Permissions }, person: Person, name: string, subject?: string, what?: string): void {
  app.permissions.require(person, name, subject, what);
}

