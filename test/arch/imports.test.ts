/** The platform seam: nothing under src/ imports a chat platform package (@slack/*, botbuilder*); only adapters/ may. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
/** Slack's packages, botbuilder and its Bot Framework siblings (botframework-connector, -schema). */
const FORBIDDEN = /^(@slack\/|botbuilder|botframework-)/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(path);
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
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!);
  return [...new Set(out)];
}

describe('src/ never imports a chat platform package (@slack/*, botbuilder*, botframework-*)', () => {
  const files = tsFiles(join(root, 'src'));

  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.endsWith(join('src', 'core', 'router.ts')))).toBe(true);
  });

  it('no file under src/ imports @slack/* or botbuilder*', () => {
    const offenders = files.flatMap((file) => specifiers(readFileSync(file, 'utf8'))
      .filter((s) => FORBIDDEN.test(s))
      .map((s) => `${relative(root, file)} imports ${s}`));
    expect(offenders, 'move platform code to adapters/').toEqual([]);
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
