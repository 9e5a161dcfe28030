/** A program run in a pseudo-terminal (python3's pty module), for tests of what a person at a terminal sees and types. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** True when python3 with its pty module is available here. */
export function ptyAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;
}

// Forks the program on a new pseudo-terminal, says its pid on stderr, relays our stdin to the terminal and the terminal
// to our stdout, and exits with the program's status.
const BRIDGE = `
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
sys.stderr.write("pid %d\\n" % pid)
sys.stderr.flush()
inputs = [fd, 0]
while True:
    ready, _, _ = select.select(inputs, [], [])
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        data = os.read(0, 65536)
        if data:
            os.write(fd, data)
        else:
            inputs.remove(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

/** A child process on a pseudo-terminal: keys in, screen text out. */
export class PtyProcess {
  private readonly child: ChildProcess;
  raw = '';
  readonly exited: Promise<number | null>;
  /** The program's process id (not the bridge's). */
  readonly pid: Promise<number>;

  constructor(command: string[], options: { cwd?: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn('python3', ['-c', BRIDGE, ...command], { cwd: options.cwd, env: { TERM: 'xterm', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => { this.raw += d.toString('utf8'); });
    let stderr = '';
    this.pid = new Promise((resolve, reject) => {
      this.child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
        const m = /^pid (\d+)$/m.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      this.child.once('exit', () => reject(new Error(`the pty bridge exited: ${stderr}`)));
    });
    this.pid.catch(() => undefined);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /**
   * The screen so far as text, like a terminal shows it: carriage returns, cursor columns and line or screen clears
   * (the escapes readline uses) are applied; colours and other escapes are dropped.
   */
  get text(): string {
    return renderScreen(this.raw);
  }

  /** Types keys (`\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D). */
  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** A mark for `waitFor`: the screen line the cursor is on now (lines above it no longer change). */
  mark(): number {
    return this.text.split('\n').length - 1;
  }

  /** Waits until `test` passes on the screen from line `from` (a `mark()`; default the whole screen); throws with the screen after `ms`. */
  async waitFor(test: RegExp | string, ms = 20_000, from = 0): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const text = this.text.split('\n').slice(from).join('\n');
      if (typeof test === 'string' ? text.includes(test) : test.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`not seen on the terminal within ${ms} ms: ${String(test)}\n--- screen ---\n${text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends a signal to the program, by its process id. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    try {
      process.kill(await this.pid, signal);
    } catch { /* already gone */ }
  }
}

/** Applies a terminal's output to an empty screen (no scrolling region, no wrapping) and returns its lines. */
export function renderScreen(raw: string): string {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const put = (ch: string) => {
    const line = lines[row]!.padEnd(col);
    lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
    col++;
  };
  // eslint-disable-next-line no-control-regex -- terminal control sequences
  const tokens = raw.match(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[^[]|[\s\S]/g) ?? [];
  for (const t of tokens) {
    if (t === '\n') { row++; col = 0; if (lines.length <= row) lines.push(''); continue; }
    if (t === '\r') { col = 0; continue; }
    if (t === '\b') { col = Math.max(0, col - 1); continue; }
    const m = /^\x1b\[([0-9;?]*)([A-Za-z])$/.exec(t);
    if (!m) {
      if (t.startsWith('\x1b') || t === '\x07') continue;
      put(t);
      continue;
    }
    const n = Number(m[1] || '0');
    switch (m[2]) {
      case 'G': col = Math.max(0, (n || 1) - 1); break;
      case 'C': col += n || 1; break;
      case 'D': col = Math.max(0, col - (n || 1)); break;
      case 'A': row = Math.max(0, row - (n || 1)); break;
      case 'B': row += n || 1; while (lines.length <= row) lines.push(''); break;
      case 'K': if (n === 2) lines[row] = ''; else if (n === 0) lines[row] = lines[row]!.slice(0, col); break;
      case 'J': if (n === 0) { lines[row] = lines[row]!.slice(0, col); lines.length = row + 1; } break;
      default: break; // colours and modes
    }
  }
  return lines.join('\n');
}
