/**
 * tread in a real terminal (a pseudo-terminal from python3's pty module), started like `npm run dev`: what a person sees
 * (ready lines before the prompt, log times in the organisation's zone, cards arriving while they type drawn above the
 * prompt) and the keys they press.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pgliteSnapshotFile } from '../helpers/db.js';
import { freePort } from '../helpers/net.js';
import { PtyProcess, ptyAvailable } from '../helpers/pty.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** Starts tread with the bundled example organisation (Europe/Berlin) on a fresh PGlite directory, in a terminal. */
async function startInTerminal(): Promise<{ term: PtyProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tread-pty-'));
  dirs.push(dir);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TREAD_DATA_DIR: join(dir, 'data'), TREAD_PGLITE_SNAPSHOT: await pgliteSnapshotFile(), PORT: String(port), LOG_LEVEL: 'info', TREAD_CONFIG: join(process.cwd(), 'tread.example.yaml') };
  const term = new PtyProcess([process.execPath, '--import', 'tsx', 'src/main.ts'], { cwd: process.cwd(), env });
  await term.waitFor('you (alice)> ', 60_000);
  return { term, port };
}

describe.skipIf(!ptyAvailable())('tread in a terminal', () => {
  it('prints the ready lines first and the prompt last; times in the organisation zone; a card arriving while typing is drawn above the prompt', async () => {
    const { term, port } = await startInTerminal();
    try {
      const screen = term.text;
      const ready = screen.indexOf('tread is ready');
      const greeting = screen.indexOf('tread console · you are Alice Chen (alice)');
      expect(ready).toBeGreaterThan(-1);
      expect(greeting).toBeGreaterThan(ready);
      expect(screen.lastIndexOf('you (alice)> ')).toBeGreaterThan(greeting);
      // pino-pretty's time, in Europe/Berlin with the zone named, like the chat's times.
      expect(screen).toMatch(/\[\d\d:\d\d:\d\d CES?T\] INFO: tread is ready/);

      term.type('/incident li');
      await term.waitFor('you (alice)> /incident li');
      const from = term.mark();
      const res = await fetch(`http://127.0.0.1:${port}/hooks/generic`, {
        method: 'POST', headers: { authorization: 'Bearer demo-generic-token', 'content-type': 'application/json' },
        body: JSON.stringify({ summary: 'Disk almost full on db-1', severity: 'warning', source: 'db-1', service: 'db' }),
      });
      expect(res.status).toBe(202);
      // The card is printed above the prompt, which is drawn again with what was typed so far.
      const after = await term.waitFor(/Disk almost full on db-1[\s\S]*you \(alice\)> \/incident li$/, 20_000, from);
      expect(after.indexOf('Disk almost full on db-1')).toBeLessThan(after.lastIndexOf('you (alice)> /incident li'));
      term.type('st\r');
      await term.waitFor(/you \(alice\)> \/incident list\n[\s\S]*tread> /, 20_000, from);

      // Ctrl-D closes the console with one line saying where tread still serves; it does.
      const closing = term.mark();
      term.type('\x04');
      const closed = await term.waitFor('Console closed', 10_000, closing);
      expect(closed).toContain(`tread keeps serving HTTP at http://127.0.0.1:${port}`);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // The terminal is the shell's again: Ctrl-C is SIGINT, tread's graceful stop.
      term.type('\x03');
      await term.waitFor('shutting down', 20_000, closing);
    } finally {
      await term.kill('SIGTERM');
    }
    expect(await term.exited).toBe(0);
  }, 120_000);

  it('Ctrl-C inside a form cancels it; at the prompt the first Ctrl-C warns and the second stops tread gracefully', async () => {
    const { term, port } = await startInTerminal();
    try {
      let from = term.mark();
      term.type('/incident\r');
      await term.waitFor('Title: ', 20_000, from);
      term.type('Half a ti\x03');
      const cancelled = await term.waitFor(/Title: \^C\ntread> Form cancelled: nothing was sent\.\nyou \(alice\)> $/, 10_000, from);
      expect(cancelled).not.toContain('press Ctrl-C again');
      // The next line is a command again; nothing was opened.
      from = term.mark();
      term.type('/incident list all\r');
      const listed = await term.waitFor(/\/incident list all\n[\s\S]*tread> [\s\S]*you \(alice\)> $/, 20_000, from);
      expect(listed).not.toContain('INC-1');

      from = term.mark();
      term.type('/as b\x03');
      // The half-typed line is dropped: the prompt after the warning is empty.
      await term.waitFor(/tread> \(press Ctrl-C again to stop tread; Ctrl-D closes only the console and tread keeps serving\)\nyou \(alice\)> $/, 10_000, from);
      // A line in between disarms it: the next Ctrl-C warns again.
      term.type('/as bob\r');
      await term.waitFor('You are now Bob Okafor', 10_000, from);
      from = term.mark();
      term.type('\x03');
      await term.waitFor('press Ctrl-C again to stop tread', 10_000, from);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      term.type('\x03');
      await term.waitFor('shutting down', 20_000, from);
      await term.waitFor('stopped', 20_000, from);
    } finally {
      await term.kill('SIGTERM');
    }
    expect(await term.exited).toBe(0);
  }, 120_000);
});
