/** One table says which role may do which action. */
import type { Role } from './config/org.js';
import { forbidden } from './errors.js';
import { hasRole, type Person } from './identity.js';

/** Action -> roles allowed (admins may do everything). */
export const PERMISSIONS: Record<string, readonly Role[]> = {
  'incident.create': ['requester'],
  'incident.note': ['requester'],
  'incident.view': ['requester'],
  'incident.ack': ['responder'],
  'incident.start': ['responder'],
  'incident.hold': ['responder'],
  'incident.assign': ['responder'],
  'incident.priority': ['responder'],
  'incident.service': ['responder'],
  'incident.major': ['responder'],
  'incident.resolve': ['responder'],
  'incident.reopen': ['responder'],
  'incident.close': ['responder'],
  'incident.cancel': ['responder'],
  'incident.stats': ['requester'],
  'oncall.view': ['requester'],
  'oncall.override': ['responder'],
  'oncall.escalate': ['responder'],
  'event.view': ['requester'],
  'event.ack': ['responder'],
  'event.resolve': ['responder'],
  'event.silence': ['responder'],
  'event.incident': ['responder'],
  'event.escalate': ['responder'],
};

/** True when the person may do the action. */
export function may(person: Person, action: string): boolean {
  const roles = PERMISSIONS[action];
  if (!roles) return hasRole(person, 'admin');
  return roles.some((r) => hasRole(person, r));
}

/** Throws a coded error when the person may not do the action. */
export function requirePermission(person: Person, action: string, what = action.split('.').pop()!): void {
  if (may(person, action)) return;
  const roles = PERMISSIONS[action] ?? ['admin'];
  throw forbidden('auth.forbidden', `${person.name} may not ${what}: that needs the ${roles.join(' or ')} role. Ask an admin to add it to your entry in the config.`);
}
