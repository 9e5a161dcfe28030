/** npm start's build (scripts/start-build.mjs) in a copy of the tree: transpiles what changed, nothing when nothing did. */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'tread-start-build-'));
for (const path of ['src', 'adapters', 'db', 'scripts', 'package.json', 'tsconfig.json', 'tsconfig.build.json']) cpSync(join(root, path), join(dir, path), { recursive: true });
symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function build(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['scripts/start-build.mjs', ...args], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}
const sourceCount = execFileSync('find', ['src', 'adapters', 'db', '-name', '*.ts', '!', '-name', '*.d.ts'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').length;
const mtime = (path: string) => statSync(join(dir, path)).mtimeMs;

describe('scripts/start-build.mjs', () => {
  it('builds every source file the first time, to the JavaScript tsc emits', () => {
    const first = build();
    expect(first).toEqual({ status: 0, stderr: expect.stringMatching(new RegExp(`^tread: built ${sourceCount} files in \\d+ ms`)) });
    // The same JavaScript as tsc's own emit (NodeNext, the build options) for files with type-only imports, classes and enums of consts.
    const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
    const parsed = ts.getParsedCommandLineOfConfigFile(join(dir, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    for (const file of ['adapters/console/console.render.ts', 'src/core/errors.ts', 'src/http/body.ts']) {
      let emitted = '';
      const program = ts.createProgram([join(dir, file)], { ...parsed.options, noEmit: false, incremental: false, tsBuildInfoFile: undefined });
      program.emit(program.getSourceFile(join(dir, file)), (name, text) => { if (name.endsWith('.js')) emitted = text; });
      expect(readFileSync(join(dir, 'dist', file.replace(/\.ts$/, '.js')), 'utf8'), file).toBe(emitted);
    }
    const map = JSON.parse(readFileSync(join(dir, 'dist/adapters/console/console.render.js.map'), 'utf8'));
    expect(map.sources).toEqual(['../../../adapters/console/console.render.ts']);
    // The output runs as ES modules.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', "const m = await import('./dist/src/core/duration.js'); console.log(typeof m.parseDuration)"], { cwd: dir, encoding: 'utf8' });
    expect(out.trim()).toBe('function');
  }, 120_000); // transpiling the tree and three tsc programs, on a loaded 2-core machine

  it('does nothing, and loads no compiler, when nothing changed', () => {
    const before = mtime('dist/src/main.js');
    const r = spawnSync(process.execPath, ['--trace-warnings', '-e', "process.on('exit', () => { if (Object.keys(require.cache).some((k) => k.includes('typescript'))) process.exitCode = 9; }); process.exitCode = require('./scripts/start-build.mjs').startBuild()"], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(mtime('dist/src/main.js')).toBe(before);
  });

  it('transpiles only a changed file, removes the output of a deleted one, and refuses a syntax error with its path', () => {
    const untouched = mtime('dist/src/main.js');
    appendFileSync(join(dir, 'src/core/duration.ts'), '\n// changed\n');
    expect(build()).toEqual({ status: 0, stderr: expect.stringMatching(/^tread: built 1 file in/) });
    expect(readFileSync(join(dir, 'dist/src/core/duration.js'), 'utf8')).toContain('// changed');
    expect(mtime('dist/src/main.js')).toBe(untouched);

    writeFileSync(join(dir, 'src/core/extra-thing.ts'), 'export const x = 1;\n');
    expect(build().status).toBe(0);
    expect(existsSync(join(dir, 'dist/src/core/extra-thing.js'))).toBe(true);
    unlinkSync(join(dir, 'src/core/extra-thing.ts'));
    expect(build().status).toBe(0);
    expect(existsSync(join(dir, 'dist/src/core/extra-thing.js'))).toBe(false);

    writeFileSync(join(dir, 'src/core/broken-thing.ts'), 'export const = ;\n');
    const broken = build();
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('src/core/broken-thing.ts:');
    unlinkSync(join(dir, 'src/core/broken-thing.ts'));
    expect(build().status).toBe(0);
  });
});
