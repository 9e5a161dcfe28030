/** The router: Inbound -> the workflow that owns the command or action -> Reply. Errors become sentences. */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { queryRows, schema } from '../../db/client.js';
import type { AppContext } from './app.js';
import { Args, helpMessage } from './commands.js';
import { isDomainError, type DomainError } from './errors.js';
import { deliveryKey, handleRecorded, InboundJournal } from './inbound-journal.js';
import { resolveActor } from './identity.js';
import { requirePermission } from './permissions.js';
import type { ActionInbound, CommandInbound, Inbound, Reply } from './inbound.js';
import type { Message } from './message.js';
import type { ActionSpec, CommandAlias, CommandSpec, HandlerContext, Workflow } from './workflow.js';

/** A record id on a button (`INC-7`, `grp-3`): named in a refusal. */
const RECORD_ID = /^[A-Za-z]+-\d+$/;

/** Routes inbound commands and actions to workflows. */
export class Router {
  private readonly commands = new Map<string, CommandSpec>();
  private readonly actions = new Map<string, ActionSpec>();
  private readonly aliases: CommandAlias[] = [];
  /** Commands of workflows this tread does not run (yet), with what they are for: they answer "not available yet". */
  private readonly planned: Record<string, string>;
  /** Called after every handled inbound (the runtime sends the outbox right away). */
  afterHandle: () => void = () => {};
  /** Chat requests acknowledged before they are handled, written down first (adapters record, the router finishes). */
  readonly journal: InboundJournal;

  /** `planned` names every command of the whole product; those no registered workflow serves answer "not available yet". */
  constructor(private readonly app: AppContext, readonly workflows: Workflow[], planned: Record<string, string> = {}, options: { inboundLeaseMs?: number } = {}) {
    this.journal = new InboundJournal(app, { leaseMs: options.inboundLeaseMs });
    for (const w of workflows) {
      for (const c of w.commands ?? []) this.commands.set(c.name, c);
      for (const [id, spec] of Object.entries(w.actions ?? {})) this.actions.set(id, spec);
      this.aliases.push(...(w.aliases ?? []));
    }
    this.commands.set('tread', {
      name: 'tread', summary: 'help for every command', usage: ['/tread help'],
      handle: async (i) => (i.text.trim() === '' || /^help$/i.test(i.text.trim()) ? this.help() : { kind: 'ephemeral', message: { text: `I don't know "/tread ${i.text.trim()}". Type /tread help for every command.`, tone: 'warning' } }),
    });
    this.commands.set('help', { name: 'help', summary: 'help for every command', usage: ['help'], handle: async () => this.help() });
    this.planned = Object.fromEntries(Object.entries(planned).filter(([name]) => !this.commands.has(name)));
  }

  /** Command names the router knows, served or planned. */
  commandNames(): string[] {
    return [...new Set([...this.commands.keys(), ...Object.keys(this.planned)])];
  }

  /** Command names a registered workflow serves (what manifests may advertise). */
  servedCommands(): string[] {
    return [...this.commands.keys()];
  }

  /** The permission each button or form action needs, by action id. */
  actionPermissions(): Map<string, string> {
    return new Map([...this.actions].map(([id, spec]) => [id, spec.permission]));
  }

  /**
   * Handles one inbound. Never throws: every failure becomes a reply. `recorded`: the adapter wrote it to the inbound
   * journal before acknowledging it (that write was the duplicate check); it is marked done once handled.
   */
  async handle(inbound: Inbound, options: { recorded?: boolean } = {}): Promise<Reply> {
    const key = deliveryKey(inbound);
    try {
      if (!options.recorded && inbound.deliveryId && !(await this.firstDelivery(key))) {
        this.app.log.info({ deliveryId: key }, 'repeated delivery ignored');
        return { kind: 'none' };
      }
      const person = await resolveActor(this.app, inbound.actor);
      const ctx: HandlerContext = { ...this.app, person, source: inbound.where.platform };
      const route = () => (inbound.kind === 'command' ? this.command(inbound, ctx) : this.action(inbound, ctx));
      let reply: Reply;
      if (options.recorded) {
        // Marked done in the transaction of its first change (the audit statement carries it); otherwise here. A refusal
        // is finished in the catch below.
        const handled = await handleRecorded(key, route);
        reply = handled.result;
        if (handled.marked) this.journal.release(inbound);
        else await this.journal.finish(inbound);
        // the journal's record of it committed: the database takes writes
        this.app.health.wrote();
      } else {
        reply = await route();
      }
      this.afterHandle();
      return reply;
    } catch (e) {
      if (isDomainError(e)) {
        if (options.recorded) await this.journal.finish(inbound);
        return this.refusal(e, inbound);
      }
      const correlationId = randomUUID().slice(0, 8);
      const unavailable = this.app.health.unavailable(e);
      if (unavailable) this.app.log.warn({ correlationId, reason: unavailable, err: (e as Error).message, inbound: { kind: inbound.kind, where: inbound.where, deliveryId: inbound.deliveryId } }, 'database unavailable while handling inbound');
      else this.app.log.error({ correlationId, err: e, inbound: { kind: inbound.kind, where: inbound.where, deliveryId: inbound.deliveryId } }, 'unexpected error handling inbound');
      if (options.recorded) {
        this.journal.release(inbound);
        if (unavailable) {
          // Nothing of it committed (a change marks its request done in its own transaction): it stays in the journal and
          // is replayed once the database is back, with the answer to the person then.
          return { kind: 'ephemeral', message: { text: `tread lost its database while working on this (${unavailable}). It will finish it when the database is back and answer you here; there is no need to send it again. Reference: ${correlationId}`, tone: 'warning' } };
        }
      }
      // Let a platform retry of the same delivery try again (and a recorded one is not replayed: the person is told).
      await this.app.db.delete(schema.deliveries).where(eq(schema.deliveries.id, key)).catch(() => undefined);
      if (unavailable) {
        return { kind: 'ephemeral', message: { text: `tread cannot reach its database right now (${unavailable}), so this was not done. Please try again in a minute; if it keeps failing, give your admin this reference: ${correlationId}`, tone: 'danger' } };
      }
      return { kind: 'ephemeral', message: { text: `Something went wrong on our side. Please try again; if it keeps failing, give your admin this reference: ${correlationId}`, tone: 'danger' } };
    }
  }

  /** A domain error as the reply to the person: the sentence, or the form with errors on its fields. */
  private refusal(e: DomainError, inbound: Inbound): Reply {
    if (inbound.kind === 'action' && inbound.formValues && e.issues?.length) {
      return { kind: 'form_errors', errors: Object.fromEntries(e.issues.map((i) => [i.path, i.message])), form: { text: e.message } };
    }
    return { kind: 'ephemeral', message: { text: e.message, tone: 'warning' } };
  }

  private async firstDelivery(id: string): Promise<boolean> {
    // Losing a delivery id in a crash only lets a platform retry through, so this commit need not wait for the disk.
    // One statement (one round trip): set_config(…, true) is SET LOCAL for the statement's own implicit transaction.
    const rows = await queryRows(this.app.db, sql`with relaxed as (select set_config('synchronous_commit', 'off', true))
      insert into deliveries (id) select ${id}::text from relaxed on conflict do nothing returning id`);
    return rows.length > 0;
  }

  /** Applies a declared alias: `/request access db read` becomes `/access request db read`. */
  private unalias(cmd: CommandInbound): CommandInbound {
    for (const a of this.aliases) {
      if (a.from.command !== cmd.name) continue;
      const words = new Args(cmd.text);
      if ((a.from.words ?? []).every((w) => words.next()?.toLowerCase() === w.toLowerCase())) {
        return { ...cmd, name: a.to.command, text: [...(a.to.words ?? []), words.rest()].filter(Boolean).join(' ') };
      }
    }
    return cmd;
  }

  private async command(inbound: CommandInbound, ctx: HandlerContext): Promise<Reply> {
    const cmd = this.unalias({ ...inbound, name: inbound.name.replace(/^\//, '').toLowerCase() });
    const spec = this.commands.get(cmd.name);
    if (!spec) {
      const planned = this.planned[cmd.name];
      if (planned) return { kind: 'ephemeral', message: { text: `/${cmd.name} (${planned}) is not available yet in this version of tread. Type /tread help for what is.`, tone: 'info' } };
      return { kind: 'ephemeral', message: { text: `I don't know the command "${cmd.name}". Type /tread help for the list.`, tone: 'warning' } };
    }
    const first = new Args(cmd.text).peek()?.toLowerCase();
    if (first === 'help' && spec.name !== 'tread' && spec.name !== 'help') {
      return { kind: 'ephemeral', message: helpMessage(`/${spec.name}: ${spec.summary}`, spec.usage) };
    }
    return spec.handle(cmd, ctx);
  }

  private async action(inbound: ActionInbound, ctx: HandlerContext): Promise<Reply> {
    const spec = this.actions.get(inbound.actionId);
    if (!spec) return { kind: 'ephemeral', message: { text: `That button (${inbound.actionId}) is not known to this version of tread.`, tone: 'warning' } };
    requirePermission(ctx, ctx.person, spec.permission, RECORD_ID.test(inbound.value) ? inbound.value.toUpperCase() : undefined);
    return spec.handle(inbound, ctx);
  }

  /** `/tread help`: every command with its summary. */
  help(): Reply {
    const lines = [...new Set(this.commands.values())].filter((c) => c.name !== 'help' && c.name !== 'tread')
      .map((c) => `- \`/${c.name}\` ${c.summary} (\`/${c.name} help\` for details)`);
    for (const [name, what] of Object.entries(this.planned)) lines.push(`- \`/${name}\` ${what} (coming soon)`);
    const message: Message = { title: 'tread commands', text: lines.join('\n'), context: 'In Teams and the console the leading slash is optional. `/as <person>` switches the acting person in the console.' };
    return { kind: 'ephemeral', message };
  }
}
