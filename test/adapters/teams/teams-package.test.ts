/** The Teams app package: manifest filled from the environment, icons of the right size and colours, a zip Teams can read. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildTeamsPackage, crc32, fillManifest, MANIFEST_DIR, PackageError } from '../../../scripts/teams-package.js';
import { servedCommands } from '../../helpers/commands.js';

const APP_ID = '0b6f1e3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/** Reads a zip's entries through its central directory, checking each CRC. */
function unzip(data: Buffer): Map<string, Buffer> {
  const end = data.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(end).toBeGreaterThan(0);
  const count = data.readUInt16LE(end + 10);
  let at = data.readUInt32LE(end + 16);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    expect(data.readUInt32LE(at)).toBe(0x02014b50);
    const method = data.readUInt16LE(at + 10);
    const crc = data.readUInt32LE(at + 16);
    const size = data.readUInt32LE(at + 20);
    const nameLength = data.readUInt16LE(at + 28);
    const local = data.readUInt32LE(at + 42);
    const name = data.subarray(at + 46, at + 46 + nameLength).toString('utf8');
    expect(data.readUInt32LE(local)).toBe(0x04034b50);
    const start = local + 30 + data.readUInt16LE(local + 26) + data.readUInt16LE(local + 28);
    const body = data.subarray(start, start + size);
    const content = method === 8 ? inflateRawSync(body) : Buffer.from(body);
    expect(crc32(content), name).toBe(crc);
    out.set(name, content);
    at += 46 + nameLength + data.readUInt16LE(at + 30) + data.readUInt16LE(at + 32);
  }
  return out;
}

/** Decodes an 8-bit RGBA PNG (filter type 0, as the generator writes). */
function decodePng(png: Buffer): { width: number; height: number; pixels: Buffer } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length), `${type} crc`).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]]).toEqual([8, 6]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const pixels = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    raw.copy(pixels, y * width * 4, y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1));
  }
  return { width, height, pixels };
}

describe('Teams app package', () => {
  it('fills the manifest and zips it with both icons at the root', () => {
    const files = unzip(buildTeamsPackage({ appId: APP_ID, publicUrl: 'https://tread.example.com:8443/some/path' }));
    expect([...files.keys()].sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
    const text = files.get('manifest.json')!.toString('utf8');
    expect(text).not.toMatch(/\{\{/);
    const manifest = JSON.parse(text);
    expect(manifest.manifestVersion).toBe('1.17');
    expect(manifest.$schema).toContain('/v1.17/');
    expect(manifest.id).toBe(APP_ID);
    expect(manifest.bots[0].botId).toBe(APP_ID);
    expect(manifest.developer.websiteUrl).toBe('https://tread.example.com:8443/');
    expect(manifest.validDomains).toEqual(['tread.example.com']);
    expect(manifest.icons).toEqual({ color: 'color.png', outline: 'outline.png' });
    const commands = manifest.bots[0].commandLists[0].commands as { title: string; description: string }[];
    // Only what tread serves: `help` (Teams users type it without /tread) and each served command; none that only answers "not available yet".
    expect(commands.map((c) => c.title).sort()).toEqual(servedCommands().map((n) => (n === 'tread' ? 'help' : n)).sort());
    expect(commands.length).toBeLessThanOrEqual(10);
    for (const c of commands) {
      expect(c.title.length).toBeLessThanOrEqual(32);
      expect(c.description.length).toBeLessThanOrEqual(128);
    }
    expect(manifest.name.short.length).toBeLessThanOrEqual(30);
    expect(manifest.description.short.length).toBeLessThanOrEqual(80);
    expect(files.get('color.png')).toEqual(readFileSync(join(MANIFEST_DIR, 'color.png')));
  });

  it('has a 192×192 colour icon and a 32×32 outline icon that is only white on transparent', () => {
    const color = decodePng(readFileSync(join(MANIFEST_DIR, 'color.png')));
    expect([color.width, color.height]).toEqual([192, 192]);
    const outline = decodePng(readFileSync(join(MANIFEST_DIR, 'outline.png')));
    expect([outline.width, outline.height]).toEqual([32, 32]);
    let white = 0;
    for (let i = 0; i < outline.pixels.length; i += 4) {
      const [r, g, b, a] = outline.pixels.subarray(i, i + 4);
      if (a === 0) continue;
      expect([r, g, b, a]).toEqual([255, 255, 255, 255]);
      white++;
    }
    expect(white).toBeGreaterThan(100);
    expect(white).toBeLessThan(32 * 32);
  });

  it('names the variable when the app id or the public URL is wrong', () => {
    const template = readFileSync(join(MANIFEST_DIR, 'manifest.json'), 'utf8');
    expect(() => fillManifest(template, { appId: 'not-a-guid', publicUrl: 'https://x.example' })).toThrow(/MICROSOFT_APP_ID/);
    expect(() => fillManifest(template, { appId: APP_ID, publicUrl: 'http://x.example' })).toThrow(/TREAD_PUBLIC_URL: Teams needs an https/);
    expect(() => fillManifest(template, { appId: APP_ID, publicUrl: 'nope' })).toThrow(PackageError);
    expect(() => fillManifest('{"a": "{{OTHER}}"}', { appId: APP_ID, publicUrl: 'https://x.example' })).toThrow(/\{\{OTHER\}\}/);
  });

  it('npm run teams:package writes the zip, and says which variable is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tread-teams-'));
    try {
      const out = join(dir, 'app.zip');
      const env = { ...process.env, MICROSOFT_APP_ID: APP_ID, TREAD_PUBLIC_URL: 'https://tread.example.com' };
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/teams-package.ts', '--out', out], { env, stdio: 'pipe' });
      expect(JSON.parse(unzip(readFileSync(out)).get('manifest.json')!.toString('utf8')).id).toBe(APP_ID);
      const failed = (() => {
        try {
          execFileSync(process.execPath, ['--import', 'tsx', 'scripts/teams-package.ts', '--out', out], { env: { ...env, MICROSOFT_APP_ID: '' }, stdio: 'pipe' });
          return undefined;
        } catch (e) {
          return e as { status: number; stderr: Buffer };
        }
      })();
      expect(failed?.status).toBe(1);
      expect(failed?.stderr.toString()).toMatch(/^MICROSOFT_APP_ID: not set/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
