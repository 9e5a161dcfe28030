/** A terminal on PassThrough streams for console tests: write lines, wait until tread has answered them, read what it printed. */
import { PassThrough } from 'node:stream';

/** A terminal on PassThrough streams: write lines, wait until tread has answered them, read what it printed. */
export class Terminal {
  readonly input = new PassThrough();
  readonly output = new PassThrough();
  text = '';
  private handled = 0;
  private waiters: (() => void)[] = [];

  constructor() {
    this.output.on('data', (d: Buffer) => { this.text += d.toString('utf8'); });
  }

  /** Called by the adapter after each command (`afterLine`). */
  lineDone(): void {
    this.handled++;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Types lines (a command and, for forms and confirmations, its answers) and returns what tread printed for them. */
  async say(...lines: string[]): Promise<string> {
    const from = this.text.length;
    const target = this.handled + 1;
    this.input.write(lines.map((l) => `${l}\n`).join(''));
    const deadline = Date.now() + 20_000;
    while (this.handled < target) {
      if (Date.now() > deadline) throw new Error(`no answer to ${JSON.stringify(lines)}; printed so far:\n${this.text.slice(from)}`);
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 200); });
    }
    return this.text.slice(from);
  }
}
