/**
 * The fake Slack Web API in a process of its own, for benchmarks: Slack is remote, so answering tread's calls must not
 * cost tread's event loop. Started with `fork` (IPC), its options (FakeSlackOptions: strict limits, faults) as JSON in
 * argv[2]. Sends `{ apiUrl, responseBase }` once listening and answers these messages:
 * - `'count'`: `{ responses }`, how many response_url posts it received; `'reset'` forgets them;
 * - `'calls'`: `{ calls }`, every Web API call in short form (method, time, status, channel, ts, thread, text);
 * - `'messages'`: `{ messages }`, every stored message (channel, ts, text, blocks as JSON);
 * - `'strict'`: `{ strict }`, the 429s it answered, calls inside its Retry-After windows, 5xx and hung calls;
 * - `'stop'`: stops.
 */
import { FakeSlack, type FakeSlackOptions } from '../test/adapters/slack/fake-slack.js';

const options = JSON.parse(process.argv[2] ?? '{}') as FakeSlackOptions;
const fake = await new FakeSlack(options).start();
process.send!({ apiUrl: fake.apiUrl, responseBase: fake.responseUrl('') });
process.on('message', (m) => {
  if (m === 'count') process.send!({ responses: fake.responses.length });
  if (m === 'reset') fake.responses.length = 0;
  if (m === 'calls') {
    process.send!({
      calls: fake.calls.map((c) => ({
        method: c.method, at: c.at, status: c.status, ok: c.result?.ok === true, channel: String(c.args.channel ?? ''),
        answeredChannel: c.result?.channel as string | undefined, ts: (c.result?.ts ?? c.args.ts) as string | undefined,
        thread: c.args.thread_ts as string | undefined, text: String(c.args.text ?? '').slice(0, 300),
      })),
    });
  }
  if (m === 'messages') process.send!({ messages: [...fake.messages.values()].map((s) => ({ channel: s.channel, ts: s.ts, thread: s.thread_ts, text: s.text ?? '', blocks: JSON.stringify(s.blocks ?? []) })) });
  if (m === 'strict') process.send!({ strict: fake.strict });
  if (m === 'stop') void fake.stop().then(() => process.exit(0));
});
