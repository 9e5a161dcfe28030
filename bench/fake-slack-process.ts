/**
 * The fake Slack Web API in a process of its own, for benchmarks: Slack is remote, so answering tread's posts must not
 * cost tread's event loop. Started with `fork` (IPC): sends `{ apiUrl, responseBase }` once listening, answers
 * `'count'` with how many response_url posts it received, and stops on `'stop'`.
 */
import { FakeSlack } from '../test/adapters/slack/fake-slack.js';

const fake = await new FakeSlack().start();
process.send!({ apiUrl: fake.apiUrl, responseBase: fake.responseUrl('') });
process.on('message', (m) => {
  if (m === 'count') process.send!({ responses: fake.responses.length });
  if (m === 'reset') fake.responses.length = 0;
  if (m === 'stop') void fake.stop().then(() => process.exit(0));
});
