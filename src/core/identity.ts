/** People and roles: mapping chat users to people by immutable platform ids. */
import { eq, inArray, sql } from 'drizzle-orm';
import { schema, type DbOrTx } from '../../db/client.js';
import type { AppContext } from './app.js';
import type { PersonAddress } from './chat-port.js';
import type { OrgConfig, Role } from './config/org.js';
import { badInput } from './errors.js';
import type { ChatUser, Platform, Source } from './inbound.js';

/** A person acting or being acted on. */
export interface Person {
  id: string;
  name: string;
  email?: string;
  slackId?: string;
  teamsId?: string;
  timezone?: string;
  roles: ReadonlySet<Role>;
  /** False for chat users the config does not know (recorded as requesters). */
  known: boolean;
}

/** Who acts and from where. */
export interface Actor {
  person: Person;
  source: Source;
}

/** Who acted, as record events carry it (plain JSON). */
export interface ActorRef {
  id: string;
  name: string;
  source: Source;
}

/** The reference of an actor, for record events. */
export function actorRef(actor: Actor): ActorRef {
  return { id: actor.person.id, name: actor.person.name, source: actor.source };
}

/** An actor rebuilt from a record event: for names, timelines and audit rows, never for permission checks (no roles). */
export function actorFromRef(ref: ActorRef): Actor {
  return { person: { id: ref.id, name: ref.name, roles: new Set(), known: true }, source: ref.source };
}

/** The REST API's actor: admin rights. */
export const API_PERSON: Person = { id: 'api', name: 'API', roles: new Set(['admin']), known: true };
/** The scheduler's actor. */
export const SCHEDULER_PERSON: Person = { id: 'tread', name: 'tread', roles: new Set(['admin']), known: true };
/** tread acting from a timer. */
export const SCHEDULER_ACTOR: Actor = { person: SCHEDULER_PERSON, source: 'scheduler' };
/** tread acting on a monitor's event (rules decide; no person did). */
export const WEBHOOK_ACTOR: Actor = { person: SCHEDULER_PERSON, source: 'webhook' };

function fromConfig(p: OrgConfig['people'][number]): Person {
  return {
    id: p.id, name: p.name, email: p.email, slackId: p.slack, teamsId: p.teams, timezone: p.timezone,
    roles: new Set<Role>([...p.roles, 'requester']), known: true,
  };
}

/** Indexes of the configured people, built once per config. */
export class Directory {
  private readonly byId = new Map<string, Person>();
  private readonly bySlack = new Map<string, Person>();
  private readonly byTeams = new Map<string, Person>();
  private readonly byEmail = new Map<string, Person>();

  constructor(readonly config: OrgConfig) {
    for (const p of config.people.map(fromConfig)) {
      this.byId.set(p.id, p);
      if (p.slackId) this.bySlack.set(p.slackId, p);
      if (p.teamsId) this.byTeams.set(p.teamsId.toLowerCase(), p);
      if (p.email) this.byEmail.set(p.email.toLowerCase(), p);
    }
  }

  /** A configured person by handle. */
  get(id: string): Person | undefined {
    return this.byId.get(id);
  }

  /** All configured people. */
  all(): Person[] {
    return [...this.byId.values()];
  }

  /** A configured person by a platform id (never by display name). */
  byPlatformId(platform: Platform, userId: string): Person | undefined {
    if (platform === 'slack') return this.bySlack.get(userId);
    if (platform === 'teams') return this.byTeams.get(userId.toLowerCase());
    return this.byId.get(userId);
  }

  /** A configured person by email (only used when the config turns email matching on). */
  byEmailAddress(email: string): Person | undefined {
    return this.byEmail.get(email.toLowerCase());
  }

  /** The members of a team (person ids), or undefined for an unknown team. */
  teamMembers(team: string): string[] | undefined {
    return this.config.teams.find((t) => t.id === team)?.members;
  }

  /** A person's manager (a person id), if the config names one. */
  managerOf(person: string): string | undefined {
    return this.config.people.find((p) => p.id === person)?.manager;
  }

  /** The time zone a person reads times in: their own, else the organisation's. */
  timeZoneOf(person: string): string {
    return this.get(person)?.timezone ?? this.config.timezone;
  }

  /** The owners of a service (person ids), or undefined for an unknown service. */
  serviceOwners(service: string): string[] | undefined {
    return this.config.services.find((s) => s.name === service)?.owners;
  }
}

const directories = new WeakMap<OrgConfig, Directory>();
/** The directory of a config (cached). */
export function directoryOf(config: OrgConfig): Directory {
  let d = directories.get(config);
  if (!d) directories.set(config, (d = new Directory(config)));
  return d;
}

/** The id an unknown chat user gets: `slack.u123abc`. */
function chatUserId(user: ChatUser): string {
  return `${user.platform}.${user.id.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}`;
}

/** Maps a chat user to a person; an unknown user is recorded as a requester. */
export async function resolveActor(app: AppContext, user: ChatUser): Promise<Person> {
  const dir = directoryOf(app.config);
  const known = dir.byPlatformId(user.platform, user.id)
    ?? (app.config.matchByEmail && user.email ? dir.byEmailAddress(user.email) : undefined);
  if (known) return known;
  const id = chatUserId(user);
  const name = user.displayName?.trim() || user.id;
  const [seen] = await app.db.select().from(schema.people).where(eq(schema.people.id, id));
  if (seen && (seen.name === name || !user.displayName)) return personFromRow(seen); // known requester: no write per message
  const [row] = await app.db.insert(schema.people).values({
    id, name, email: user.email,
    slackId: user.platform === 'slack' ? user.id : undefined,
    teamsId: user.platform === 'teams' ? user.id : undefined,
  }).onConflictDoUpdate({ target: schema.people.id, set: { name } }).returning();
  return personFromRow(row!);
}

function personFromRow(row: typeof schema.people.$inferSelect): Person {
  return {
    id: row.id, name: row.name, email: row.email ?? undefined, slackId: row.slackId ?? undefined,
    teamsId: row.teamsId ?? undefined, timezone: row.timezone ?? undefined, roles: new Set(['requester']), known: false,
  };
}

/** A person by handle: configured people first, then people first seen in chat. */
export async function findPerson(app: AppContext, id: string, db: DbOrTx = app.db): Promise<Person | undefined> {
  const configured = directoryOf(app.config).get(id);
  if (configured) return configured;
  const [row] = await db.select().from(schema.people).where(eq(schema.people.id, id));
  return row ? personFromRow(row) : undefined;
}

/** The display name of a person id (falls back to the id). */
export async function personName(app: AppContext, id: string | null | undefined, db: DbOrTx = app.db): Promise<string> {
  if (!id) return '—';
  return (await findPerson(app, id, db))?.name ?? id;
}

/**
 * Resolves a person named in a command: `@handle`, `handle`, a platform mention token `@<platform-id>`, or an email.
 * Throws a coded error naming what was not found.
 */
export async function resolvePersonToken(app: AppContext, token: string, platform?: Platform): Promise<Person> {
  const dir = directoryOf(app.config);
  const bare = token.replace(/^@/, '').replace(/^<(.*)>$/, '$1').trim();
  const found = dir.get(bare.toLowerCase())
    ?? (platform && platform !== 'console' ? dir.byPlatformId(platform, bare) : undefined)
    ?? dir.byPlatformId('slack', bare) ?? dir.byPlatformId('teams', bare)
    ?? (bare.includes('@') ? dir.byEmailAddress(bare) : undefined)
    ?? (await findPerson(app, bare));
  if (!found) {
    throw badInput('person.unknown', `I don't know "${token}". Name a person by handle (like @alice), a mention, or an email from the config.`);
  }
  return found;
}

/** Where a person can be reached on each platform that is on. */
export function addressesOf(person: Person, platforms: ReadonlySet<Platform>): PersonAddress[] {
  const out: PersonAddress[] = [];
  if (platforms.has('slack') && person.slackId) out.push({ platform: 'slack', userId: person.slackId, name: person.name });
  if (platforms.has('teams') && person.teamsId) out.push({ platform: 'teams', userId: person.teamsId, name: person.name });
  if (platforms.has('console')) out.push({ platform: 'console', userId: person.id, name: person.name });
  return out;
}

/** True when the person holds the role (admins hold every role). */
export function hasRole(person: Person, role: Role): boolean {
  return person.roles.has('admin') || person.roles.has(role);
}

/** Writes the configured people into the database so ids and names resolve in SQL and across restarts (three statements). */
export async function syncPeople(app: AppContext): Promise<void> {
  const people = app.config.people;
  if (people.length === 0) return;
  const slackIds = people.flatMap((p) => (p.slack ? [p.slack] : []));
  const teamsIds = people.flatMap((p) => (p.teams ? [p.teams] : []));
  await app.db.transaction(async (tx) => {
    // Whoever held a configured platform id gives it up (a chat user first seen before the config named them keeps their
    // row); the upsert below gives it to the configured person.
    if (slackIds.length) await tx.update(schema.people).set({ slackId: null }).where(inArray(schema.people.slackId, slackIds));
    if (teamsIds.length) await tx.update(schema.people).set({ teamsId: null }).where(inArray(schema.people.teamsId, teamsIds));
    await tx.insert(schema.people).values(people.map((p) => ({
      id: p.id, name: p.name, email: p.email ?? null, slackId: p.slack ?? null, teamsId: p.teams ?? null, timezone: p.timezone ?? null, fromConfig: true,
    }))).onConflictDoUpdate({
      target: schema.people.id,
      set: {
        name: sql`excluded.name`, email: sql`excluded.email`, slackId: sql`excluded.slack_id`, teamsId: sql`excluded.teams_id`,
        timezone: sql`excluded.timezone`, fromConfig: sql`excluded.from_config`,
      },
    });
  });
}
