/** The pages the Teams manifest links to (website, privacy, terms) are served, short, and name the organisation. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import { startTread, type Tread } from '../../src/runtime.js';
import { parseOrganisation } from '../../src/workflows/index.js';

const manifest = JSON.parse(readFileSync(new URL('../../manifest/teams/manifest.json', import.meta.url), 'utf8'));

describe('website, privacy and terms pages', () => {
  let database: Database;
  let tread: Tread;
  beforeAll(async () => {
    database = await openDatabase({ dataDir: 'memory://' });
    tread = await startTread({ database, config: parseOrganisation('organisation: Acme <Shop> & Co\n'), tickSeconds: 0, http: { host: '127.0.0.1', port: 0 } });
  });
  afterAll(async () => { await tread?.stop(); });

  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${tread.port}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('serves every developer URL of the Teams manifest as an HTML page naming the organisation', async () => {
    const urls = [manifest.developer.websiteUrl, manifest.developer.privacyUrl, manifest.developer.termsOfUseUrl] as string[];
    const paths = urls.map((u) => {
      expect(u.startsWith('{{TREAD_PUBLIC_URL}}/'), u).toBe(true);
      return u.slice('{{TREAD_PUBLIC_URL}}'.length);
    });
    expect(paths).toEqual(['/', '/privacy', '/terms']);
    for (const path of paths) {
      const page = await get(path);
      expect(page.status, path).toBe(200);
      expect(page.type).toBe('text/html; charset=utf-8');
      // The name is escaped, not markup.
      expect(page.text).toContain('Acme &lt;Shop&gt; &amp; Co');
      expect(page.text).not.toContain('<Shop>');
      expect(page.text.length).toBeLessThan(4000);
    }
  });

  it('the home page links to the other two and says what tread keeps; unknown paths are still 404', async () => {
    const home = await get('/');
    expect(home.text).toContain('href="/privacy"');
    expect(home.text).toContain('href="/terms"');
    expect((await get('/privacy')).text).toMatch(/audit log/);
    expect((await get('/terms')).text).toMatch(/Apache-2\.0/);
    expect((await get('/nothing-here')).status).toBe(404);
  });
});
