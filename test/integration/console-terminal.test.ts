/**
 * tread in a real terminal (a pseudo-terminal from python3's pty module), started like `npm run dev`: what a person sees
 * (ready lines before the prompt, log times in the organisation's zone, cards arriving while they type drawn above the
 * prompt) and the keys they press.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/net.js';
import { PtyProcess, ptyAvailable } from '../helpers/pty.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** Starts tread with the bundled example organisation (Europe/Berlin) on a fresh PGlite directory, in a terminal. */
async function startInTerminal(): Promise<{ term: PtyProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tread-pty-'));
  dirs.push(dir);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TREAD_DATA_DIR: join(dir, 'data'), PORT: String(port), LOG_LEVEL: 'info', TREAD_CONFIG: join(process.cwd(), 'tread.example.yaml') };
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
    } finally {
      await term.kill('SIGTERM');
    }
    // SIGTERM is the graceful stop: exit 0.
    expect(await term.exited).toBe(0);
  }, 120_000);
});
