/** The benchmarks' handle on the fake Slack Web API they run in a process of their own (bench/fake-slack-process.ts). */
import { fork, type ChildProcess } from 'node:child_process';
import type { FakeSlackOptions, StrictStats } from '../test/adapters/slack/fake-slack.js';

/** One Web API call as the fake saw it. */
export interface FakeCall {
  method: string;
  /** When it arrived (epoch ms, this machine's clock). */
  at: number;
  /** HTTP status answered (0: never answered). */
  status: number;
  /** Slack answered ok: true. */
  ok: boolean;
  channel: string;
  answeredChannel?: string;
  ts?: string;
  thread?: string;
  text: string;
}

/** A message as the fake stores it (its newest content). */
export interface FakeMessage {
  channel: string;
  ts: string;
  thread?: string;
  text: string;
  blocks: string;
}

/** The fake Slack in its own process. */
export interface FakeSlackProcess {
  apiUrl: string;
  responseBase: string;
  responses(): Promise<number>;
  calls(): Promise<FakeCall[]>;
  messages(): Promise<FakeMessage[]>;
  strict(): Promise<StrictStats>;
  reset(): void;
  stop(): Promise<void>;
}

/** Starts the fake Slack (strict with `options.limits`, faulty with `options.faults`) in a child process. */
export async function startFakeSlack(options: FakeSlackOptions = {}): Promise<FakeSlackProcess> {
  const child: ChildProcess = fork(new URL('./fake-slack-process.ts', import.meta.url), [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  process.once('exit', () => child.kill()); // also when the benchmark fails
  const urls = await new Promise<{ apiUrl: string; responseBase: string }>((resolve) => child.once('message', (m) => resolve(m as { apiUrl: string; responseBase: string })));
  const ask = <T>(what: string, key: string) => new Promise<T>((resolve) => {
    child.once('message', (m) => resolve((m as Record<string, T>)[key]!));
    child.send(what);
  });
  return {
    ...urls,
    responses: () => ask<number>('count', 'responses'),
    calls: () => ask<FakeCall[]>('calls', 'calls'),
    messages: () => ask<FakeMessage[]>('messages', 'messages'),
    strict: () => ask<StrictStats>('strict', 'strict'),
    reset: () => child.send('reset'),
    stop: async () => { const exited = new Promise((r) => child.once('exit', r)); child.send('stop'); await exited; },
  };
}

/** The most calls of `method` in any window of `windowMs` (calls sorted by time). */
export function maxInWindow(calls: FakeCall[], method: string, windowMs = 60_000): number {
  const times = calls.filter((c) => c.method === method).map((c) => c.at).sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i]! - times[j]! >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
