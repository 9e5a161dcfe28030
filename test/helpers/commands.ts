/** What tread serves, for the tests that compare the Slack and Teams manifests with it. */
import type { AppContext } from '../../src/core/app.js';
import { Router } from '../../src/core/router.js';
import { allWorkflows } from '../../src/workflows/index.js';

/** The commands registered workflows serve (with /tread); planned ones only answer "not available yet" and are not advertised. */
export function servedCommands(): string[] {
  return new Router({} as AppContext, allWorkflows).commandNames().filter((n) => n !== 'help');
}

/** The first word after `/name` in each usage line of a served command (`list`, `show`, …): its subcommands, and help. */
export function subcommandsOf(name: string): Set<string> {
  if (name === 'tread') return new Set(['help']);
  const usage = allWorkflows.flatMap((w) => w.commands ?? []).find((c) => c.name === name)?.usage ?? [];
  return new Set([...usage.flatMap((u) => (/^\/\S+\s+([a-z][\w|]*)/.exec(u)?.[1]?.split('|') ?? [])), 'help']);
}
