/**
 * Benchmark: SQL statements per command on PostgreSQL (a count, so it does not depend on how busy the machine is).
 * For each of `/incident <title>`, the ack button, `/request` and the approval press (as in bench/commands.ts): the
 * statements sent while the command is handled (the answer waits for them), and those sent in the half second after it
 * (after-commit work: subscribers run as timers, the outbox dispatch). Each counted on the 20th command of its kind.
 * Needs DATABASE_URL. Run: npx tsx bench/statements.ts   (STATEMENTS_LIST=1 prints them)
 */
import { readFileSync } from 'node:fs';
import { openDatabase } from '../db/client.js';
import { startTread } from '../src/runtime.js';
import { parseOrganisation } from '../src/workflows/index.js';
import { createPgDatabase } from '../test/helpers/db.js';
import { CountingPort } from './counting-port.js';

if (!process.env.DATABASE_URL) throw new Error('bench/statements.ts needs DATABASE_URL');
const config = parseOrganisation(readFileSync(new URL('../tread.example.yaml', import.meta.url), 'utf8'), 'tread.example.yaml');
let sent: string[] = [];
const { url, drop } = await createPgDatabase();
const database = await openDatabase({ url, onQuery: (q) => sent.push(q.replace(/\s+/g, ' ').trim()) });
const tread = await startTread({ database, config, tickSeconds: 0, platforms: () => [{ platform: 'console', port: new CountingPort() }] });
const where = { platform: 'console' as const, channel: 'console' };
const person = (id: string) => ({ platform: 'console' as const, id });
const N = 20;
let seq = 0;
const commands = {
  '/incident <title>': (i: number) => tread.router.handle({ kind: 'command', name: 'incident', text: `Bench incident ${i} impact:low`, actor: person('alice'), where, deliveryId: `s${++seq}` }),
  'incident.ack': (i: number) => tread.router.handle({ kind: 'action', actionId: 'incident.ack', value: `INC-${i + 1}`, actor: person('alice'), where, deliveryId: `s${++seq}` }),
  '/request laptop model:… reason:…': (i: number) => tread.router.handle({ kind: 'command', name: 'request', text: `laptop model:"14-inch standard" reason: bench request ${i}`, actor: person('dave'), where, deliveryId: `s${++seq}` }),
  'approval.approve': (i: number) => tread.router.handle({ kind: 'action', actionId: 'approval.approve', value: `APR-${i + 1}`, actor: person('carol'), where, deliveryId: `s${++seq}` }),
};
for (const [command, run] of Object.entries(commands)) {
  for (let i = 0; i < N; i++) {
    if (i === N - 1) {
      await new Promise((r) => setTimeout(r, 500));
      sent = [];
    }
    const reply = await run(i);
    if (reply.kind === 'ephemeral' && reply.message.tone === 'danger') throw new Error(reply.message.text);
  }
  const during = sent.length;
  await new Promise((r) => setTimeout(r, 500));
  console.log(JSON.stringify({ bench: 'statements', driver: 'postgres', command, duringCommand: during, afterCommand: sent.length - during }));
  if (process.env.STATEMENTS_LIST) sent.forEach((q, j) => console.log(`${j < during ? ' ' : '*'} ${q.slice(0, 160)}`));
}
await tread.stop();
await drop();
