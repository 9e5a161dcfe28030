/**
 * `npm run teams:package`: fills manifest/teams/manifest.json from the environment and writes the Teams app package
 * (a zip with manifest.json, color.png and outline.png at its root). `--icons` redraws the two icons.
 * Zip and PNG are written here with node:zlib, no dependencies.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateRawSync, deflateSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
/** The folder with the manifest template and the icons. */
export const MANIFEST_DIR = resolve(here, '..', 'manifest', 'teams');

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (zip, PNG). */
export function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A file to put in a zip. */
export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** Writes a zip archive (deflated entries, a fixed timestamp so the same input gives the same bytes). */
export function zip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const dosTime = 0; // 00:00:00
  const dosDate = ((2024 - 1980) << 9) | (1 << 5) | 1; // 2024-01-01
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const deflated = deflateRawSync(entry.data, { level: 9 });
    const stored = deflated.length >= entry.data.length;
    const body = stored ? entry.data : deflated;
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(stored ? 0 : 8, 8);
    local.writeUInt16LE(dosTime, 10);
    local.writeUInt16LE(dosDate, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(stored ? 0 : 8, 10);
    central.writeUInt16LE(dosTime, 12);
    central.writeUInt16LE(dosDate, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Encodes RGBA pixels (row by row, 4 bytes each) as a PNG. */
export function encodePng(width: number, height: number, rgba: Buffer): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** tread's mark: three stair treads rising to the right. True where a pixel of a `size` icon belongs to it. */
export function inMark(x: number, y: number, size: number): boolean {
  const lo = size * 0.2;
  const hi = size * 0.8;
  const step = (hi - lo) / 3;
  const px = x + 0.5;
  const py = y + 0.5;
  if (px < lo || px > hi || py < lo || py > hi) return false;
  const fromBottom = Math.floor((hi - py) / step); // 0, 1, 2
  return px >= lo + fromBottom * step;
}

/** Draws an icon: the mark in `fg` on `bg` (`null` for transparent). */
export function drawIcon(size: number, fg: [number, number, number], bg: [number, number, number] | null): Buffer {
  const rgba = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      const on = inMark(x, y, size);
      const color = on ? fg : bg;
      if (!color) continue; // transparent
      rgba[i] = color[0];
      rgba[i + 1] = color[1];
      rgba[i + 2] = color[2];
      rgba[i + 3] = 255;
    }
  }
  return encodePng(size, size, rgba);
}

/** The accent colour of the app (also the colour icon's background). */
export const ACCENT: [number, number, number] = [0x2f, 0x5d, 0x8a];

/** Writes color.png (192×192) and outline.png (32×32, white on transparent) into the manifest folder. */
export function writeIcons(dir = MANIFEST_DIR): void {
  writeFileSync(join(dir, 'color.png'), drawIcon(192, [255, 255, 255], ACCENT));
  writeFileSync(join(dir, 'outline.png'), drawIcon(32, [255, 255, 255], null));
}

/** Raised for a missing or bad environment variable; the message names it. */
export class PackageError extends Error {
  override readonly name = 'PackageError';
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Fills the manifest template: `{{MICROSOFT_APP_ID}}`, `{{TREAD_PUBLIC_URL}}` (origin) and `{{TREAD_HOST}}` (host name). */
export function fillManifest(template: string, values: { appId: string; publicUrl: string }): string {
  if (!GUID.test(values.appId)) throw new PackageError(`MICROSOFT_APP_ID: "${values.appId}" is not an app id (a GUID like 00000000-0000-0000-0000-000000000000)`);
  let url: URL;
  try {
    url = new URL(values.publicUrl);
  } catch {
    throw new PackageError(`TREAD_PUBLIC_URL: "${values.publicUrl}" is not a URL (like https://tread.example.com)`);
  }
  if (url.protocol !== 'https:') throw new PackageError(`TREAD_PUBLIC_URL: Teams needs an https address, not ${url.protocol}//`);
  const filled = template
    .replaceAll('{{MICROSOFT_APP_ID}}', values.appId.toLowerCase())
    .replaceAll('{{TREAD_PUBLIC_URL}}', url.origin)
    .replaceAll('{{TREAD_HOST}}', url.hostname);
  const left = /\{\{([A-Z_]+)\}\}/.exec(filled);
  if (left) throw new PackageError(`manifest.json: placeholder {{${left[1]}}} has no value`);
  return `${JSON.stringify(JSON.parse(filled), null, 2)}\n`;
}

/** Builds the app package zip from the manifest folder. */
export function buildTeamsPackage(values: { appId: string; publicUrl: string }, dir = MANIFEST_DIR): Buffer {
  const manifest = fillManifest(readFileSync(join(dir, 'manifest.json'), 'utf8'), values);
  return zip([
    { name: 'manifest.json', data: Buffer.from(manifest, 'utf8') },
    { name: 'color.png', data: readFileSync(join(dir, 'color.png')) },
    { name: 'outline.png', data: readFileSync(join(dir, 'outline.png')) },
  ]);
}

/** The command line: reads MICROSOFT_APP_ID and TREAD_PUBLIC_URL, writes the zip (default dist/teams/tread-teams.zip). */
export function main(argv: string[], env: NodeJS.ProcessEnv): number {
  if (argv.includes('--icons')) {
    writeIcons();
    console.log(`wrote ${join(MANIFEST_DIR, 'color.png')} and ${join(MANIFEST_DIR, 'outline.png')}`);
    return 0;
  }
  const outAt = argv.indexOf('--out');
  const out = resolve(outAt >= 0 && argv[outAt + 1] ? argv[outAt + 1]! : join('dist', 'teams', 'tread-teams.zip'));
  try {
    if (!env.MICROSOFT_APP_ID) throw new PackageError('MICROSOFT_APP_ID: not set; it is the bot\'s Microsoft app id (a GUID)');
    if (!env.TREAD_PUBLIC_URL) throw new PackageError('TREAD_PUBLIC_URL: not set; it is the https address Teams reaches tread at (like https://tread.example.com)');
    const data = buildTeamsPackage({ appId: env.MICROSOFT_APP_ID, publicUrl: env.TREAD_PUBLIC_URL });
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, data);
    console.log(`wrote ${out} (${data.length} bytes): upload it in Teams under Apps → Manage your apps → Upload an app`);
    return 0;
  } catch (e) {
    if (e instanceof PackageError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2), process.env);
}
