/** The console chat: a terminal (TTY or piped lines) as a chat platform, with `/as <person>` to switch the actor. */
import { randomUUID } from 'node:crypto';
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { AppContext } from '../../src/core/app.js';
import type { ChatPort, MessageRef, PersonAddress } from '../../src/core/chat-port.js';
import { UnsupportedError } from '../../src/core/errors.js';
import { directoryOf } from '../../src/core/identity.js';
import type { ActionInbound, Inbound, Reply, Where } from '../../src/core/inbound.js';
import type { Button, Input, Message } from '../../src/core/message.js';
import type { PlatformAdapter } from '../../src/core/platform.js';
import type { Router } from '../../src/core/router.js';
import { checkAnswer, promptOf } from './console.form.js';
import { plain, renderButtons, renderText } from './console.render.js';

/** Options of the console adapter. */
export interface ConsoleOptions {
  app: AppContext;
  router: Router;
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** The acting person's handle at start (default: the first person in the config). */
  user?: string;
  /** Awaited after each line, before the next is read (the runtime sends the outbox here). */
  afterLine?: () => Promise<void>;
  /** Called when the input ends. */
  onEnd?: () => void;
  /**
   * Resolves once tread is ready and has logged so (src/start.ts): the greeting and the first prompt wait for it, so
   * they come after the ready lines instead of being buried under them. `url` is where tread serves HTTP.
   */
  ready?: Promise<{ url?: string }>;
  /**
   * The second Ctrl-C at the prompt (a terminal only) stops tread through this. Default: raise SIGINT in this process,
   * which src/start.ts turns into the same graceful stop as a Ctrl-C sent by the shell.
   */
  onStop?: () => void;
}

/** What a Ctrl-C answers to a question inside a form or a confirmation: leave it. */
const INTERRUPT = Symbol('Ctrl-C');

const WHERE: Where = { platform: 'console', channel: 'console', name: 'console' };

/**
 * A console message id, unique across restarts and replicas sharing one database (chat_messages is unique on platform,
 * channel and message id: a number reused by a later process was never recorded, and its card never updated).
 */
function messageId(): string {
  return `c-${randomUUID()}`;
}

/** The console as a platform adapter. */
export class ConsoleAdapter implements PlatformAdapter, ChatPort {
  readonly platform = 'console' as const;
  readonly port: ChatPort = this;
  private user: string;
  /**
   * The newest buttons each person can press by number: cards posted to channels are everyone's ('*'), a direct message
   * is its recipient's, a reply is the acting person's. A number presses the newest of the actor's own and the channels'.
   */
  private readonly buttonsOf = new Map<string, { buttons: Button[]; seq: number; subject?: string }>();
  private buttonSeq = 0;
  /** The newest buttons of each record's card (`PRB-1`), and who sees that card ('*': everyone). */
  private readonly cardButtons = new Map<string, { buttons: Button[]; who: string }>();
  /**
   * The record whose card each person last pressed a button of. Until that person types a command, a number presses
   * that record's newest card: a card another record's change re-renders meanwhile does not take the number over.
   */
  private readonly focus = new Map<string, string>();
  private seq = 0;
  private rl: Interface | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly tty: boolean;
  /** Lines read but not yet asked for; `undefined` marks the end of the input. */
  private readonly queued: (string | undefined)[] = [];
  private waiting: ((line: string | undefined | typeof INTERRUPT) => void) | undefined;
  /** What tread waits for: a command at the prompt, or an answer inside a form or confirmation. */
  private asking: 'command' | 'answer' | undefined;
  /** True after a first Ctrl-C at the prompt: the next one stops tread. */
  private stopArmed = false;
  private ended = false;
  /** The prompt on screen while tread waits for a line (TTY): output arriving meanwhile is printed above it. */
  private prompting: string | undefined;
  /** Where tread serves HTTP, once ready. */
  private url: string | undefined;

  constructor(private readonly options: ConsoleOptions) {
    const people = options.app.config.people;
    this.user = options.user ?? people.find((p) => p.roles.includes('responder') || p.roles.includes('admin'))?.id ?? people[0]?.id ?? 'you';
    this.tty = Boolean((options.input as NodeJS.ReadStream).isTTY);
  }

  /** Prints lines; on a terminal waiting for input, above the prompt, which is then drawn again with what was typed. */
  private write(text: string): void {
    if (this.stopped && this.tty) return;
    const out = this.options.output;
    if (this.tty && this.prompting !== undefined && this.rl) {
      clearLine(out, 0);
      cursorTo(out, 0);
      out.write(`${text}\n`);
      this.rl.prompt(true);
      return;
    }
    out.write(`${text}\n`);
  }

  private prompt(): string {
    return `you (${this.user})> `;
  }

  /** Starts reading lines; the greeting and the first prompt follow once `ready` resolves. */
  async start(): Promise<void> {
    this.rl = createInterface({ input: this.options.input, output: this.tty ? this.options.output : undefined, terminal: this.tty, prompt: '' });
    this.rl.on('line', (line) => this.deliver(line));
    this.rl.on('close', () => { this.ended = true; this.deliver(undefined); });
    // In a terminal readline reads Ctrl-C as a key; without a listener it would only pause the console.
    if (this.tty) this.rl.on('SIGINT', () => this.interrupt());
    if (this.options.ready) {
      this.loop = this.options.ready.then((r) => { this.url = r.url; }, () => undefined).then(() => { this.greet(); return this.run(); });
    } else {
      this.greet();
      this.loop = this.run();
    }
  }

  private greet(): void {
    const me = directoryOf(this.options.app.config).get(this.user);
    this.write(`tread console · you are ${me ? `${me.name} (${this.user})` : this.user} · type /tread help, or /as <person> to switch`);
  }

  /** Resolves when the input has ended and every line was handled. */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Ctrl-C: leaves a form or confirmation; at the prompt, warns first and stops tread the second time in a row. */
  private interrupt(): void {
    // Forget what was typed on the line (Ctrl-E, then Ctrl-U: to the end, then delete to the start).
    this.rl?.write(null as unknown as string, { ctrl: true, name: 'e' });
    this.rl?.write(null as unknown as string, { ctrl: true, name: 'u' });
    if (this.asking === 'answer' && this.waiting) {
      this.options.output.write('^C\n');
      return this.deliver(INTERRUPT);
    }
    if (this.stopArmed) {
      this.write('tread> Stopping tread…');
      (this.options.onStop ?? (() => process.kill(process.pid, 'SIGINT')))();
      return;
    }
    this.stopArmed = true;
    this.write('tread> (press Ctrl-C again to stop tread; Ctrl-D closes only the console and tread keeps serving)');
  }

  private deliver(line: string | undefined | typeof INTERRUPT): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(line);
    } else if (line !== INTERRUPT) this.queued.push(line);
  }

  /**
   * Shows `question` and resolves with the next line, undefined when the input has ended, or INTERRUPT when Ctrl-C was
   * pressed while an answer (not a command) was asked for.
   */
  private async ask(question: string, kind: 'command' | 'answer' = 'answer'): Promise<string | undefined | typeof INTERRUPT> {
    let line: string | undefined | typeof INTERRUPT;
    if (this.queued.length > 0) {
      line = this.queued.shift();
      // Typed ahead (or piped): show the question with its answer, as a transcript.
      if (line !== undefined) this.write(`${question}${line}`);
      return line;
    }
    if (this.ended) return undefined;
    if (this.tty) {
      this.prompting = question;
      this.rl!.setPrompt(question);
      this.rl!.prompt();
    }
    this.asking = kind;
    try {
      line = await new Promise<string | undefined | typeof INTERRUPT>((resolve) => { this.waiting = resolve; });
    } finally {
      this.prompting = undefined;
      this.asking = undefined;
    }
    if (!this.tty && typeof line === 'string') this.write(`${question}${line}`);
    return line;
  }

  private async run(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) break;
        const line = await this.ask(this.prompt(), 'command');
        if (line === undefined) break;
        if (line === INTERRUPT) continue;
        this.stopArmed = false;
        await this.handleLine(line.trim());
        await this.options.afterLine?.();
      }
    } catch (e) {
      this.options.app.log.error({ err: (e as Error).message }, 'console input failed');
    } finally {
      this.rl?.close();
      if (!this.stopped) {
        // Ctrl-D, or the end of piped input: only the console stops (on a terminal the empty prompt gives way to the line).
        if (this.tty) {
          clearLine(this.options.output, 0);
          cursorTo(this.options.output, 0);
        }
        this.write(`tread> Console closed. tread keeps serving HTTP${this.url ? ` at ${this.url}` : ''}; stop it with Ctrl-C or SIGTERM.`);
      }
      this.options.onEnd?.();
    }
  }

  /** Handles one typed line (exposed for tests and scripts). */
  async handleLine(line: string): Promise<void> {
    this.recent.clear();
    if (!line) return;
    const asMatch = /^\/as(?:\s+(.*))?$/i.exec(line);
    if (asMatch) return this.switchUser(asMatch[1]?.trim());
    if (/^\d+$/.test(line)) return this.press(Number(line));
    this.focus.delete(this.user);
    const m = /^\/?(\S+)\s*([\s\S]*)$/.exec(line)!;
    const name = m[1]!.toLowerCase();
    if (!line.startsWith('/') && !this.options.router.commandNames().includes(name)) {
      this.write(`tread> I don't know "${m[1]}". Commands start with a slash: /incident <title>, /tread help. A number presses a button of the card you last pressed, or else of the newest card.`);
      return;
    }
    await this.send({ kind: 'command', name, text: m[2] ?? '', actor: this.actor(), where: WHERE, deliveryId: this.nextDelivery() });
  }

  private nextDelivery(): string {
    return `console-${process.pid}-${Date.now()}-${++this.seq}`;
  }

  private actor() {
    const person = directoryOf(this.options.app.config).get(this.user);
    return { platform: 'console' as const, id: this.user, displayName: person?.name ?? this.user };
  }

  private switchUser(handle: string | undefined): void {
    const dir = directoryOf(this.options.app.config);
    if (!handle) {
      this.write(`tread> You are ${this.user}. Switch with /as <person>; people: ${dir.all().map((p) => p.id).join(', ') || 'none configured'}`);
      return;
    }
    const person = dir.get(handle.replace(/^@/, '').toLowerCase());
    if (!person) {
      this.write(`tread> There is no person "${handle}" in the config. People: ${dir.all().map((p) => p.id).join(', ') || 'none'}`);
      return;
    }
    this.user = person.id;
    this.write(`tread> You are now ${person.name} (${person.id}), roles: ${[...person.roles].join(', ')}`);
  }

  private async press(n: number): Promise<void> {
    const { buttons, subject } = this.lastButtons();
    const button = buttons[n - 1];
    if (!button) {
      this.write(buttons.length ? `tread> There is no button [${n}] on ${subject ? `${subject}'s card` : 'the last card'} (1–${buttons.length}).`
        : 'tread> No card on screen has buttons to press; show one with a command (/incident show INC-1), then press its numbers.');
      return;
    }
    if (subject) this.focus.set(this.user, subject);
    if (button.confirm) {
      const answer = await this.ask(`tread> ${button.confirm} [y/N] `);
      if (typeof answer !== 'string' || !/^y(es)?$/i.test(answer.trim())) {
        this.write('tread> Not done.');
        return;
      }
    }
    await this.send({ kind: 'action', actionId: button.actionId, value: button.value, actor: this.actor(), where: WHERE, deliveryId: this.nextDelivery() });
  }

  private async send(inbound: Inbound): Promise<void> {
    const reply = await this.options.router.handle(inbound);
    await this.show(reply, inbound);
  }

  private async show(reply: Reply, inbound: Inbound): Promise<void> {
    switch (reply.kind) {
      case 'none': return;
      case 'ephemeral': this.print(reply.message); return;
      case 'card': return; // the outbox refreshes the card and announces the change
      case 'form': return this.fillForm(reply.form, inbound, {});
      case 'form_errors': return this.fillForm(reply.form, inbound, reply.errors);
    }
  }

  /**
   * Prompts for each input of a form, checking each answer as it is given, then submits it; re-asks fields that come
   * back with errors. `/cancel` (or any line starting with a slash) leaves the form; another command then runs.
   */
  private async fillForm(form: Message, inbound: Inbound, errors: Record<string, string>, values: Record<string, string> = {}): Promise<void> {
    if (!form.inputs || !form.submit) {
      // A form_errors reply carries only the message; ask again for the fields that failed.
      const previous = this.pendingForm;
      if (!previous) return this.print(form);
      for (const [field, error] of Object.entries(errors)) this.write(`tread> ${field}: ${error}`);
      return this.fillForm(previous.form, previous.inbound, errors, previous.values);
    }
    if (Object.keys(errors).length === 0) this.write(`tread> ${plain(form.title ?? 'Form')} (press Enter to skip optional fields, /cancel to leave)`);
    const filled: Record<string, string> = { ...values };
    for (const input of form.inputs) {
      if (Object.keys(errors).length > 0 && !(input.id in errors)) continue;
      const answer = await this.askInput(input);
      if (answer.kind === 'ended') return;
      if (answer.kind === 'cancelled') {
        this.pendingForm = undefined;
        this.write('tread> Form cancelled: nothing was sent.');
        if (answer.line && !/^\/cancel\b/i.test(answer.line)) await this.handleLine(answer.line);
        return;
      }
      filled[input.id] = answer.value;
    }
    this.pendingForm = { form, inbound, values: filled };
    const submit: ActionInbound = { kind: 'action', actionId: form.submit.actionId, value: form.submit.value ?? '', formValues: filled, actor: this.actor(), where: WHERE, deliveryId: this.nextDelivery() };
    const reply = await this.options.router.handle(submit);
    if (reply.kind !== 'form_errors') this.pendingForm = undefined;
    await this.show(reply, submit);
  }

  private pendingForm: { form: Message; inbound: Inbound; values: Record<string, string> } | undefined;

  /** Asks one input until its answer passes the input's own checks (required, choices, number bounds, dates, people). */
  private async askInput(input: Input): Promise<{ kind: 'value'; value: string } | { kind: 'cancelled'; line?: string } | { kind: 'ended' }> {
    if (input.error) this.write(`       ${input.error}`);
    const people = directoryOf(this.options.app.config).all().map((p) => ({ id: p.id, ...(p.email ? { email: p.email } : {}) }));
    for (;;) {
      const answer = await this.ask(promptOf(input));
      if (answer === undefined) return { kind: 'ended' };
      if (answer === INTERRUPT) return { kind: 'cancelled' };
      if (answer.trim().startsWith('/')) return { kind: 'cancelled', line: answer.trim() };
      const checked = checkAnswer(input, answer, people);
      if ('value' in checked) return { kind: 'value', value: checked.value };
      this.write(`       ${checked.error}`);
    }
  }

  /** Texts printed while handling the current line: an announcement that repeats the reply is not printed twice. */
  private readonly recent = new Set<string>();

  /**
   * Remembers a card's buttons for whoever may press them by number ('*': everyone). `live`: an update of a record's live
   * card, which is that record's card even without buttons (closed); any other message about a record counts only when it
   * has buttons (a timeline or an announcement about the record leaves its card's buttons as they are).
   */
  private rememberButtons(who: string, message: Message, live = false): void {
    if (message.subject && (live || message.buttons?.length)) {
      this.cardButtons.set(message.subject, { buttons: message.buttons ?? [], who });
      // A card that lost its buttons no longer offers the ones it showed before.
      if (!message.buttons?.length) for (const [k, v] of this.buttonsOf) if (v.subject === message.subject) this.buttonsOf.delete(k);
    }
    if (message.buttons?.length) this.buttonsOf.set(who, { buttons: message.buttons, seq: ++this.buttonSeq, ...(message.subject ? { subject: message.subject } : {}) });
  }

  /**
   * The buttons a number presses now: those of the newest card of the record the person last pressed a button of (while
   * it has buttons: a finished task's number goes on to the next card), else the acting person's newest card, or the channels' when that is newer.
   */
  private lastButtons(): { buttons: Button[]; subject?: string } {
    const focused = this.focus.get(this.user);
    const card = focused ? this.cardButtons.get(focused) : undefined;
    if (focused && card?.buttons.length && (card.who === '*' || card.who === this.user)) return { buttons: card.buttons, subject: focused };
    const mine = this.buttonsOf.get(this.user);
    const shared = this.buttonsOf.get('*');
    return (mine && (!shared || mine.seq > shared.seq) ? mine : shared) ?? { buttons: [] };
  }

  private print(message: Message, prefix = 'tread> ', who: string = this.user): void {
    this.rememberButtons(who, message);
    if (message.text && !message.title) {
      if (this.recent.has(message.text)) return;
      this.recent.add(message.text);
    }
    this.write(renderText(message, prefix));
  }

  // ChatPort: the console is one conversation; everything prints.

  async post(where: Where, message: Message): Promise<MessageRef> {
    this.print(message, 'tread> ', '*');
    return { where: { ...WHERE, channel: where.channel || 'console' }, messageId: messageId() };
  }

  async update(ref: MessageRef, message: Message): Promise<void> {
    this.rememberButtons(ref.where.channel.startsWith('dm:') ? ref.where.channel.slice(3) : '*', message, true);
    this.write(`tread> ↻ ${plain(message.title ?? message.text ?? '')}${message.buttons?.length ? `\n       ${renderButtons(message.buttons)}` : ''}`);
  }

  async dm(user: PersonAddress, message: Message): Promise<MessageRef> {
    this.print(message, `tread> (to ${user.name ?? user.userId}) `, user.userId);
    return { where: { platform: 'console', channel: `dm:${user.userId}` }, messageId: messageId() };
  }

  async postEphemeral(_where: Where, user: PersonAddress, message: Message): Promise<void> {
    this.print(message, `tread> (only ${user.name ?? user.userId}) `, user.userId);
  }

  async openForm(): Promise<void> {
    throw new UnsupportedError('openForm', 'The console asks for form fields in the terminal instead.');
  }

  async createChannel(name: string): Promise<Where> {
    throw new UnsupportedError('createChannel', `The console cannot create channels (it would have created #${name}).`);
  }

  async pin(): Promise<void> {
    throw new UnsupportedError('pin', 'The console cannot pin messages.');
  }

  /** Stops reading input. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.rl?.close();
    this.deliver(undefined);
  }
}

/** Creates the console adapter. */
export function createConsoleAdapter(options: ConsoleOptions): ConsoleAdapter {
  return new ConsoleAdapter(options);
}
