/**
 * The seam between workflows, built by the runtime from what each `Workflow` declares (see src/core/workflow.ts):
 * record events with their subscribers, operations, and card contributions.
 */
import type { DbOrTx, Tx } from '../../db/client.js';
import type { AppContext } from './app.js';
import { DomainError } from './errors.js';
import type { Message } from './message.js';
import { schedule, type TimerHandler } from './timers.js';
import type {
  CardContribution, CardPart, OperationName, OpContext, OpInput, OpOutput, RecordEventName, RecordEvents, Subscription, Workflow,
} from './workflow.js';

/** The timer kind of after-commit subscribers. */
export const RECORD_EVENT_TIMER = 'core.record_event';

interface Subscriber extends Subscription {
  /** `<workflow>.<name>`: what an after-commit timer names. */
  id: string;
}

type AnyOperation = (op: OpContext, input: unknown) => Promise<unknown>;

/** Record events, operations and card contributions of the registered workflows. */
export class Seam {
  private readonly subscribers = new Map<string, Subscriber[]>();
  private readonly byId = new Map<string, Subscriber>();
  private readonly operations = new Map<string, AnyOperation>();
  private readonly contributions: CardContribution[] = [];
  /** Set when an after-commit subscriber was scheduled since the last `takeScheduled()` (the runtime runs timers then). */
  private scheduled = false;

  constructor(workflows: readonly Workflow[]) {
    for (const w of workflows) {
      for (const s of w.subscribes ?? []) {
        const sub: Subscriber = { ...s, id: `${w.name}.${s.name}` };
        if (this.byId.has(sub.id)) throw new Error(`workflow ${w.name} has two subscribers named ${s.name}`);
        this.byId.set(sub.id, sub);
        this.subscribers.set(s.event, [...(this.subscribers.get(s.event) ?? []), sub]);
      }
      for (const [name, fn] of Object.entries(w.provides ?? {})) {
        if (!name.startsWith(`${w.name}.`)) throw new Error(`workflow ${w.name} offers operation "${name}" outside its namespace (${w.name}.…)`);
        if (this.operations.has(name)) throw new Error(`operation "${name}" is offered twice`);
        this.operations.set(name, fn as AnyOperation);
      }
      this.contributions.push(...(w.contributes ?? []));
    }
  }

  /**
   * Announces a record event inside the announcing transaction: inline subscribers run now (their failure fails the
   * change), after-commit subscribers are scheduled as timers due now (they run once the change committed).
   */
  async announce<K extends RecordEventName>(tx: Tx, app: AppContext, event: K, data: RecordEvents[K], now: Date): Promise<void> {
    for (const sub of this.subscribers.get(event) ?? []) {
      if (sub.mode === 'inline') {
        await sub.handle(tx, app, data, now);
      } else {
        await schedule(tx, { kind: RECORD_EVENT_TIMER, subject: subjectOf(data) ?? event, dueAt: now, payload: { event, subscriber: sub.id, data: JSON.parse(JSON.stringify(data)) as unknown } });
        this.scheduled = true;
      }
    }
  }

  /** True when some workflow subscribes to the event (an announcer may skip building costly data otherwise). */
  heard(event: RecordEventName): boolean {
    return (this.subscribers.get(event)?.length ?? 0) > 0;
  }

  /** Notes that a timer due now was scheduled (after-commit work): the runtime runs timers right after the change. */
  noteScheduled(): void {
    this.scheduled = true;
  }

  /** True (once) when after-commit work was scheduled since the last call. */
  takeScheduled(): boolean {
    const was = this.scheduled;
    this.scheduled = false;
    return was;
  }

  /** True when a registered workflow offers the operation. */
  offers(name: OperationName): boolean {
    return this.operations.has(name);
  }

  /** Calls another workflow's operation; a coded error when no registered workflow offers it. */
  async call<K extends OperationName>(name: K, op: OpContext, input: OpInput<K>): Promise<OpOutput<K>> {
    const fn = this.operations.get(name);
    if (!fn) throw new DomainError('seam.unavailable', `This tread runs no workflow that offers ${name}.`, 503);
    return (await fn(op, input)) as OpOutput<K>;
  }

  /**
   * What other workflows add to the card of a record; `opening`: the card built in the transaction that creates the
   * record, which skips contributions that cannot have anything yet.
   */
  async cardParts(db: DbOrTx, app: AppContext, subject: string, now: Date, options: { opening?: boolean } = {}): Promise<CardPart[]> {
    const parts: CardPart[] = [];
    for (const c of this.contributions) {
      if (!subject.startsWith(c.prefix) || (options.opening && c.atOpening === false)) continue;
      const part = await c.contribute(db, app, subject, now);
      if (part) parts.push(part);
    }
    return parts;
  }

  /** The scheduler's handler for after-commit subscribers. */
  readonly timer: TimerHandler = async (tx, timer, app, now) => {
    const { event, subscriber, data } = timer.payload as { event?: string; subscriber?: string; data?: unknown };
    const sub = subscriber ? this.byId.get(subscriber) : undefined;
    if (!sub || sub.event !== event) {
      app.log.warn({ event, subscriber }, 'record event for a subscriber this tread does not run; dropping it');
      return;
    }
    await sub.handle(tx, app, data, now);
  };
}

/** Adds other workflows' parts to a card: lines under its text, fields and buttons after its own. */
export function withCardParts(message: Message, parts: readonly CardPart[]): Message {
  if (parts.length === 0) return message;
  const lines = parts.flatMap((p) => p.lines ?? []);
  const fields = parts.flatMap((p) => p.fields ?? []);
  const buttons = parts.flatMap((p) => p.buttons ?? []);
  return {
    ...message,
    ...(lines.length ? { text: [message.text, ...lines].filter(Boolean).join('\n') } : {}),
    ...(fields.length ? { fields: [...(message.fields ?? []), ...fields] } : {}),
    ...(buttons.length ? { buttons: [...(message.buttons ?? []), ...buttons] } : {}),
  };
}

function subjectOf(data: unknown): string | undefined {
  const s = (data as { subject?: unknown } | null)?.subject;
  return typeof s === 'string' ? s : undefined;
}
