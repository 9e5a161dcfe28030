/**
 * The last line of defence (src/start.ts): an exception nothing catches, or a rejection nobody handles, anywhere in
 * tread is logged with its stack and a reference, and tread then stops gracefully (the shutdown SIGTERM runs) and exits
 * 1, for a supervisor to restart it. tread runs as a process on PGlite; a test-only preload throws on SIGUSR2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PRELOAD = join(ROOT, 'test/fixtures/preload/fail-on-signal.mjs');

describe('an uncaught error stops tread gracefully with exit code 1', () => {
  let dir: string;
  let snapshot: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tread-crash-'));
    writeFileSync(join(dir, 'tread.yaml'), 'organisation: Crash test\ntimezone: UTC\npeople:\n  - { id: alice, name: Alice, roles: [admin] }\n');
    snapshot = await pgliteSnapshotFile();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Starts tread with the preload, waits for /readyz, sends SIGUSR2; resolves with its exit code and its log lines. */
  async function crash(failure: 'exception' | 'rejection'): Promise<{ code: number | null; lines: Record<string, any>[]; output: string }> {
    const port = await freePort();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'NODE_OPTIONS', 'SLACK_BOT_TOKEN', 'MICROSOFT_APP_ID'].includes(k) && !k.startsWith('VITEST')));
    const child = spawn(process.execPath, ['--import', PRELOAD, '--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...clean, LOG_LEVEL: 'info', PORT: String(port), HOST: '127.0.0.1', TREAD_CONSOLE: '0', TREAD_CONFIG: join(dir, 'tread.yaml'), TREAD_DATA_DIR: join(dir, `data-${failure}`), TREAD_PGLITE_SNAPSHOT: snapshot, TREAD_TEST_FAILURE: failure },
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString('utf8'); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`tread did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGUSR2');
    const code = await exited;
    const lines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, any>);
    return { code, lines, output };
  }

  it.each([
    ['exception', 'uncaughtException', 'test: thrown from a timer'],
    ['rejection', 'unhandledRejection', 'test: a rejection nobody handles'],
  ] as const)('an uncaught %s: logged with its stack and a reference, then the graceful shutdown, exit 1', async (failure, kind, message) => {
    const { code, lines, output } = await crash(failure);
    expect(code, output).toBe(1);
    const fatal = lines.find((l) => l.kind === kind);
    expect(fatal, output).toBeDefined();
    expect(fatal!.level).toBe(60);
    expect(fatal!.correlationId).toMatch(/^[0-9a-f]{8}$/);
    expect(fatal!.msg).toContain(`reference ${fatal!.correlationId}`);
    expect(fatal!.err.message).toBe(message);
    expect(fatal!.err.stack).toContain('fail-on-signal.mjs');
    // then the same graceful path as SIGTERM, ending with exit code 1
    const shutdown = lines.findIndex((l) => l.msg?.startsWith('shutting down') && l.signal === kind);
    const stopped = lines.findIndex((l) => l.msg === 'stopped');
    expect(shutdown).toBeGreaterThan(lines.indexOf(fatal!));
    expect(stopped).toBeGreaterThan(shutdown);
    expect(lines[stopped]!.exitCode).toBe(1);
  }, 90_000);
});
