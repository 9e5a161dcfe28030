/**
 * The dependency rule, read from the imports of every source file:
 * - nothing under src/ imports a chat platform package (@slack/*, botbuilder*, botframework-*); only adapters/ may;
 * - src/core imports no workflow, adapter or src/http;
 * - a workflow imports no adapter and nothing of another workflow (only what the runtime hands it), and from src/http
 *   only rest.ts, and that only in its *.routes.ts;
 * - src/http imports no workflow or adapter;
 * - adapters import no workflow and not each other;
 * - db/ imports nothing above it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
/** Slack's packages, botbuilder and its Bot Framework siblings (botframework-connector, -schema). */
const FORBIDDEN = /^(@slack\/|botbuilder|botframework-)/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'migrations' ? [] : tsFiles(path);
    return /\.(c|m)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file names: static and type imports, re-exports, side-effect imports, import(), require(). */
function specifiers(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)\s*\./g,
    /\bdeclare\s+module\s+['"]([^'"]+)['"]/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return [...new Set(out)];
}

/** Where a file sits: `core`, `http`, `scheduler`, `workflow:<name>`, `src` (top-level files), `adapter:<name>`, `db`, or other. */
export function area(path: string): string {
  const rel = relative(root, path).split(sep);
  if (rel[0] === 'src') {
    if (rel[1] === 'workflows') return rel.length > 3 ? `workflow:${rel[2]}` : 'workflows';
    if (rel.length === 2) return 'src';
    return rel[1]!;
  }
  if (rel[0] === 'adapters') return `adapter:${rel[1]}`;
  return rel[0]!;
}

/** What the rule says about one import; undefined when it is allowed. */
export function violation(from: string, to: string): string | undefined {
  const a = area(from);
  const b = area(to);
  const file = relative(root, from).split(sep).join('/');
  if (a === b) return undefined;
  if (a === 'core' && (b.startsWith('workflow') || b.startsWith('adapter:') || b === 'http' || b === 'src' || b === 'scheduler')) return 'src/core imports no workflow, adapter, src/http or composition code';
  if (a.startsWith('workflow:')) {
    if (b.startsWith('workflow')) return 'a workflow imports nothing of another workflow: talk through what the runtime hands it (src/core/workflow.ts)';
    if (b.startsWith('adapter:')) return 'a workflow imports no adapter';
    if (b === 'http') {
      if (!(to.endsWith(`${sep}http${sep}rest.ts`))) return 'a workflow imports only src/http/rest.ts from src/http';
      if (!file.endsWith('.routes.ts')) return 'only a workflow\'s *.routes.ts imports src/http/rest.ts';
    }
    if (b === 'src' || b === 'scheduler') return 'a workflow imports no composition or scheduler code';
  }
  if (a === 'http' && (b.startsWith('workflow') || b.startsWith('adapter:') || b === 'src')) return 'src/http imports no workflow or adapter';
  if (a === 'scheduler' && (b.startsWith('workflow') || b.startsWith('adapter:') || b === 'http')) return 'src/scheduler imports only the core';
  if (a.startsWith('adapter:')) {
    if (b.startsWith('workflow')) return 'an adapter imports no workflow';
    if (b.startsWith('adapter:')) return 'adapters do not import each other';
  }
  if (a === 'db' && b !== 'db') return 'db/ imports nothing above it';
  return undefined;
}

/** Resolves a relative specifier of a TypeScript source (`./x.js` is `./x.ts`). */
function target(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return resolve(dirname(from), spec).replace(/\.js$/, '.ts');
}

function offenders(dirs: string[]): string[] {
  return dirs.flatMap((d) => tsFiles(join(root, d))).flatMap((file) => specifiers(readFileSync(file, 'utf8')).flatMap((spec) => {
    const to = target(file, spec);
    const why = to ? violation(file, to) : undefined;
    return why ? [`${relative(root, file)} imports ${spec}: ${why}`] : [];
  }));
}

describe('src/ never imports a chat platform package (@slack/*, botbuilder*, botframework-*)', () => {
  const files = tsFiles(join(root, 'src'));

  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.endsWith(join('src', 'core', 'router.ts')))).toBe(true);
  });

  it('no file under src/ imports @slack/* or botbuilder*', () => {
    const bad = files.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => FORBIDDEN.test(s))
      .map((s) => `${relative(root, file)} imports ${s}`));
    expect(bad, 'move platform code to adapters/').toEqual([]);
  });

  it('the check catches every form of import', () => {
    const sample = [
      "import { App } from '@slack/bolt';",
      "import type { KnownBlock } from '@slack/types';",
      "export { CloudAdapter } from 'botbuilder';",
      "import 'botbuilder-core';",
      "const m = await import('@slack/web-api');",
      "const x = require(\"botframework-connector\"); const y = require('botbuilder-dialogs');",
      "import {\n  TurnContext,\n} from 'botbuilder';",
    ].join('\n');
    expect(specifiers(sample).filter((s) => FORBIDDEN.test(s)).sort()).toEqual(
      ['@slack/bolt', '@slack/types', '@slack/web-api', 'botbuilder', 'botbuilder-core', 'botbuilder-dialogs', 'botframework-connector'].sort(),
    );
    // Comments and strings that are not imports do not count.
    expect(specifiers("// import x from '@slack/bolt'\n/* import 'botbuilder' */\nconst s = 'from @slack/bolt';")).toEqual([]);
  });

  it('adapters/ is where platform packages live (and they do use them)', () => {
    const adapterImports = tsFiles(join(root, 'adapters')).flatMap((f) => specifiers(readFileSync(f, 'utf8')));
    expect(adapterImports.some((s) => s.startsWith('@slack/'))).toBe(true);
    expect(adapterImports.some((s) => s.startsWith('botbuilder'))).toBe(true);
  });
});

describe('the dependency rule between core, workflows, http, adapters and db', () => {
  it('every import of src/, adapters/ and db/ follows it (offenders are named with their import)', () => {
    expect(offenders(['src', 'adapters', 'db'])).toEqual([]);
  });

  it('the rule catches each kind of offence', () => {
    const f = (p: string) => join(root, ...p.split('/'));
    expect(violation(f('src/core/router.ts'), f('src/workflows/incident/index.ts'))).toMatch(/src\/core imports no workflow/);
    expect(violation(f('src/core/router.ts'), f('src/http/server.ts'))).toMatch(/src\/core imports no/);
    expect(violation(f('src/workflows/event/event.links.ts'), f('src/workflows/incident/incident.service.ts'))).toMatch(/another workflow/);
    expect(violation(f('src/workflows/event/event.links.ts'), f('src/workflows/index.ts'))).toMatch(/another workflow/);
    expect(violation(f('src/workflows/event/event.service.ts'), f('src/http/rest.ts'))).toMatch(/only a workflow's \*\.routes\.ts/);
    expect(violation(f('src/workflows/event/event.routes.ts'), f('src/http/server.ts'))).toMatch(/only src\/http\/rest\.ts/);
    expect(violation(f('src/workflows/event/event.routes.ts'), f('src/http/rest.ts'))).toBeUndefined();
    expect(violation(f('src/workflows/event/event.routes.ts'), f('adapters/slack/index.ts'))).toMatch(/no adapter/);
    expect(violation(f('adapters/slack/index.ts'), f('src/workflows/incident/index.ts'))).toMatch(/an adapter imports no workflow/);
    expect(violation(f('adapters/slack/index.ts'), f('adapters/teams/index.ts'))).toMatch(/do not import each other/);
    expect(violation(f('db/client.ts'), f('src/core/app.ts'))).toMatch(/db\/ imports nothing above it/);
    expect(violation(f('src/http/rest.ts'), f('src/workflows/incident/index.ts'))).toMatch(/src\/http imports no workflow/);
    // allowed: the core from anywhere, db from the core, the runtime composing everything
    expect(violation(f('src/workflows/event/event.service.ts'), f('src/core/app.ts'))).toBeUndefined();
    expect(violation(f('src/core/app.ts'), f('db/client.ts'))).toBeUndefined();
    expect(violation(f('src/runtime.ts'), f('src/workflows/index.ts'))).toBeUndefined();
  });

  it('reads type imports and declaration merging too', () => {
    expect(specifiers("declare module '../../core/workflow.js' {\n interface X {} }\nimport type { A } from './a.js';")).toEqual(['./a.js', '../../core/workflow.js']);
  });
});

describe('every workflow folder has the same kinds of files', () => {
  const KINDS = ['config', 'machine', 'service', 'messages', 'commands', 'routes', 'timers'];
  const folders = readdirSync(join(root, 'src', 'workflows'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

  it.each(folders)('%s', (w) => {
    const files = readdirSync(join(root, 'src', 'workflows', w));
    const missing = [...KINDS.map((k) => `${w}.${k}.ts`), 'index.ts'].filter((f) => !files.includes(f));
    expect(missing, `src/workflows/${w}/ lacks`).toEqual([]);
  });
});

