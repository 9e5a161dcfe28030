/** Test doubles for the on-call tests: a recording console ChatPort, a config, and a runtime on a manual clock. */
import type { Database } from '../../../db/client.js';
import { ManualClock } from '../../../src/core/clock.js';
import { type OrgConfig } from '../../../src/core/config/org.js';
import { parseOrganisation } from '../../../src/workflows/index.js';
import type { Inbound, Reply, Where } from '../../../src/core/inbound.js';
import type { PlatformAdapter } from '../../../src/core/platform.js';
import { startTread, type Tread } from '../../../src/runtime.js';
import { RecordingPort } from '../../helpers/recording-port.js';

export { RecordingPort, type PortCall } from '../../helpers/recording-port.js';

/** The organisation file of the on-call tests (clock starts Mon 5 Jan 2026 10:00 UTC: alice is primary, carol secondary). */
export const ONCALL_YAML = `
organisation: test
timezone: UTC
people:
  - { id: alice, name: Alice, roles: [responder] }
  - { id: bob, name: Bob, roles: [responder] }
  - { id: carol, name: Carol, roles: [responder], timezone: Europe/Berlin }
  - { id: dave, name: Dave }
  - { id: erin, name: Erin, roles: [admin] }
teams:
  - { id: payments, name: Payments, members: [alice, bob, carol] }
services:
  - { name: checkout, team: payments, escalationPolicy: standard, console: { channel: checkout } }
schedules:
  - name: primary
    title: Payments primary
    team: payments
    layers:
      - { people: [alice, bob], start: 2026-01-05, handoff: "09:00", length: weekly }
  - name: secondary
    layers:
      - { people: [carol], start: 2026-01-05 }
  - name: office
    layers:
      - { people: [dave], start: 2026-01-05, restrictions: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }] }
escalationPolicies:
  - name: standard
    steps:
      - { schedule: primary, wait: 15m }
      - { schedule: secondary, wait: 10m }
  - name: looping
    repeat: 1
    steps:
      - { person: alice, wait: 5m }
      - { person: bob, wait: 5m }
  - name: with-channel
    steps:
      - { person: alice, wait: 5 }
      - { notify: [{ channel: { console: ops, slack: C0999 } }, { person: bob }, { schedule: primary }], wait: 5m }
  - name: gappy
    steps:
      - { schedule: office, wait: 10m }
      - { person: bob, wait: 10m }
`;

/** The parsed test config. */
export function oncallConfig(yaml = ONCALL_YAML): OrgConfig {
  return parseOrganisation(yaml, 'test.yaml', {});
}

export const START = '2026-01-05T10:00:00Z';
export const API_TOKEN = 'test-token-0123456789abcdef';

/** A tread with a recording console port, a manual clock and no cron (tests call `scheduler.tick()`). */
export async function startTestTread(database: Database, options: { clock?: ManualClock; config?: OrgConfig; http?: boolean } = {}) {
  const clock = options.clock ?? new ManualClock(new Date(START));
  const port = new RecordingPort();
  const adapter: PlatformAdapter = { platform: 'console', port };
  const tread: Tread = await startTread({
    database, config: options.config ?? oncallConfig(), clock, tickSeconds: 0, platforms: () => [adapter], apiToken: API_TOKEN,
    ...(options.http ? { http: { host: '127.0.0.1', port: 0 } } : {}),
  });
  let seq = 0;
  /** Sends a command or action as a console user and returns the reply. */
  const send = async (actor: string, inbound: { kind: 'command'; name: string; text: string } | { kind: 'action'; actionId: string; value: string }): Promise<Reply> => {
    const full = { ...inbound, actor: { platform: 'console' as const, id: actor }, where: { platform: 'console' as const, channel: 'console' }, deliveryId: `t${process.pid}-${++seq}` } as Inbound;
    const reply = await tread.router.handle(full);
    await tread.dispatcher.flush();
    return reply;
  };
  const command = (actor: string, text: string) => {
    const [name, ...rest] = text.replace(/^\//, '').split(' ');
    return send(actor, { kind: 'command', name: name!, text: rest.join(' ') });
  };
  return { tread, clock, port, send, command };
}

/** The text of a reply (title, text and fields), for assertions. */
export function replyText(reply: Reply): string {
  const m = reply.kind === 'ephemeral' || reply.kind === 'card' ? reply.message : reply.kind === 'form' || reply.kind === 'form_errors' ? reply.form : undefined;
  if (!m) return '';
  return [m.title, m.text, ...(m.fields ?? []).map((f) => `${f.label}: ${f.value}`), m.context].filter(Boolean).join('\n');
}
