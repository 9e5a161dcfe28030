/**
 * The README's Docker instructions agree with the Dockerfile and with what tread reads: the mounted organisation file is
 * the one TREAD_CONFIG names, the data volume is TREAD_DATA_DIR, every variable of tread.env is one tread knows (or one
 * the organisation file uses as ${VAR}), and together they start a valid configuration. (No Docker daemon runs here,
 * so the container itself is not started.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envSchema, loadEnv } from '../../src/core/config/env.js';
import { loadOrganisation } from '../../src/workflows/index.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const DOCKERFILE = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
const EXAMPLE = readFileSync(new URL('../../tread.example.yaml', import.meta.url), 'utf8');

function blocksAfter(marker: string, count: number): string[] {
  const at = README.indexOf(marker);
  expect(at, marker).toBeGreaterThan(-1);
  return [...README.slice(at).matchAll(/```sh\n([\s\S]*?)```/g)].slice(0, count).map((m) => m[1]!);
}

describe('the README\'s Docker instructions', () => {
  const [run, envFile] = blocksAfter('### Docker', 2) as [string, string];
  const command = run.replace(/\\\n\s*/g, ' ');
  const dir = mkdtempSync(join(tmpdir(), 'tread-docker-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const dockerEnv = Object.fromEntries([...DOCKERFILE.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$/gm)].map((m) => [m[1]!, m[2]!]));
  const runEnv = Object.fromEntries([...command.matchAll(/-e ([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  const fileEnv = Object.fromEntries(envFile.trim().split('\n').map((l) => l.split('=') as [string, string]).map(([k, ...v]) => [k, v.join('=')]));

  it('mounts the organisation file where TREAD_CONFIG points, and the data volume where the image keeps its data', () => {
    const mounts = [...command.matchAll(/-v "?([^"\s]+)"?/g)].map((m) => m[1]!.split(':'));
    const config = mounts.find(([from]) => from!.endsWith('tread.yaml'));
    expect(config?.[1]).toBe(runEnv.TREAD_CONFIG);
    expect(config?.[2]).toBe('ro');
    const data = mounts.find(([from]) => from === 'tread-data');
    expect(data?.[1]).toBe(dockerEnv.TREAD_DATA_DIR);
    expect(DOCKERFILE).toContain(`VOLUME ["${dockerEnv.TREAD_DATA_DIR}"]`);
    expect(DOCKERFILE).toMatch(/^USER node$/m);
    expect(command).toContain(`-p ${dockerEnv.PORT}:${dockerEnv.PORT}`);
    expect(command).toMatch(/--env-file tread\.env/);
  });

  it('tread.env holds only variables tread reads or the organisation file refers to, and they make a valid start', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const name of Object.keys(fileEnv)) {
      expect(known.has(name) || README.includes(`\${${name}}`), `${name} is neither a tread variable nor a \${VAR} of the README`).toBe(true);
    }
    const env = { ...dockerEnv, ...runEnv, ...fileEnv };
    expect(() => loadEnv(env)).not.toThrow();
    // The organisation file of the mount, with the README's way of keeping a token out of it.
    const path = join(dir, 'tread.yaml');
    writeFileSync(path, EXAMPLE.replace('token: demo-alertmanager-token', 'token: ${PROM_WEBHOOK_TOKEN}'));
    const loaded = loadOrganisation(path, env);
    expect(loaded.config.integrations.find((i) => i.name === 'prometheus')?.token).toBe(fileEnv.PROM_WEBHOOK_TOKEN);
  });
});
