/**
 * tread as a process of its own (`node --import tsx src/main.ts`, as `npm start` runs it, with tsx as a loader so signals
 * reach tread directly): for tests that kill it, restart it, or run two side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** The checkout's root (where src/main.ts is). */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Variables of the test process that would change what a spawned tread does: each test names its own. */
const NOT_INHERITED = ['DATABASE_URL', 'TREAD_DATA_DIR', 'TREAD_CONFIG', 'TREAD_API_TOKEN', 'PORT', 'HOST', 'NODE_OPTIONS', 'TREAD_CONSOLE', 'TREAD_TICK_SECONDS', 'MICROSOFT_APP_ID'];

/** The test process's environment without what a test must set itself (and without vitest's and Slack's variables). */
export function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !NOT_INHERITED.includes(k) && !k.startsWith('VITEST') && !k.startsWith('SLACK_'))) as Record<string, string>;
}

/** A spawned tread: its output so far, and how to wait for it, read its metrics and stop it. */
export class SpawnedTread {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  /** The address from its "tread is ready" line (or the port it was given). */
  url = '';

  /** `env` on top of the inherited environment, with LOG_LEVEL info, HOST loopback and PORT 0 unless given. */
  constructor(env: Record<string, string>, options: { stdin?: 'ignore' | 'pipe' } = {}) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT, env: { ...inheritedEnv(), LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', ...env }, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => { this.stdout += d.toString('utf8'); });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString('utf8'); });
    this.exited = new Promise((done) => this.child.once('exit', (code) => done(code)));
    if (env.PORT && env.PORT !== '0') this.url = `http://127.0.0.1:${env.PORT}`;
  }

  /** Waits until `test` holds; fails with what it printed when it exits first or the time runs out. */
  async until(what: string, test: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await test())) {
      if (this.child.exitCode !== null) throw new Error(`tread exited (${this.child.exitCode}) before ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Waits until it is ready and returns its address: with a given port, until GET /readyz answers 200 (any log level);
   * otherwise until its "tread is ready" line (LOG_LEVEL info or lower).
   */
  async ready(ms?: number): Promise<string> {
    if (this.url) {
      await this.until('/readyz 200', async () => (await fetch(`${this.url}/readyz`).then((r) => r.status, () => 0)) === 200, ms);
      return this.url;
    }
    await this.until('tread is ready', () => {
      const line = this.stderr.split('\n').find((l) => l.includes('"tread is ready"'));
      if (line) this.url = (JSON.parse(line) as { url: string }).url;
      return Boolean(line);
    }, ms);
    return this.url;
  }

  /** The sum of a metric's samples, all of them or those with the given label text (e.g. `outcome="ran"`). */
  async metric(name: string, labels?: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const prefix = labels === undefined ? name : `${name}{${labels}}`;
    return text.split('\n').filter((l) => l.startsWith(prefix) && !l.startsWith('#') && (labels !== undefined || /^[^{ ]+[{ ]/.test(l) && l.split(/[{ ]/)[0] === name))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  }

  /** Sends `signal` (SIGTERM by default; SIGKILL after 30 s so no tread is left behind) and returns the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(killer);
    }
  }
}
