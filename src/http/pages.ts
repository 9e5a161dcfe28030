/**
 * The three short pages an app store links to (the Teams manifest's website, privacy and terms URLs), written from the
 * organisation's name. Static text: nothing is read from the database.
 */
import type { ServerResponse } from 'node:http';
import type { Route } from '../core/route.js';

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function page(res: ServerResponse, title: string, body: string): void {
  const html = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>\n`
    + `<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto; line-height: 1.5">\n${body}\n`
    + '<p><a href="/">tread</a> · <a href="/privacy">Privacy</a> · <a href="/terms">Terms of use</a></p>\n</body></html>\n';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'public, max-age=3600' });
  res.end(html);
}

/** GET /, /privacy and /terms for `organisation`. */
export function infoPageRoutes(organisation: string): Route[] {
  const org = escapeHtml(organisation);
  return [
    {
      method: 'GET', path: '/', name: '/', handler: (_req, res) => page(res, `tread · ${org}`, [
        `<h1>tread at ${org}</h1>`,
        `<p>tread is the ChatOps bot ${org} uses for IT service operations: incidents, alerts from monitoring and on-call, worked in Slack, Microsoft Teams and the terminal.</p>`,
        '<p>In chat, type <code>/tread help</code> (in Teams: <code>help</code>) for the commands.</p>',
      ].join('\n')),
    },
    {
      method: 'GET', path: '/privacy', name: '/privacy', handler: (_req, res) => page(res, `Privacy · tread at ${org}`, [
        `<h1>Privacy: tread at ${org}</h1>`,
        `<p>tread keeps what it needs to run ${org}'s service operations, in ${org}'s own database: the people in its organisation file (name, email, chat ids, time zone, roles), the chat users who talk to it, the records (incidents, alerts, on-call overrides) with their timelines, the ids of the chat messages that show them (so cards can be updated), and an audit log of who changed what.</p>`,
        `<p>It sends messages only to the chat platforms ${org} connected and to the webhooks ${org} configured. It does not track, profile or share anyone, and has no advertising.</p>`,
        `<p>Questions, or a request to see or remove your data: ask the people who run tread at ${org}.</p>`,
      ].join('\n')),
    },
    {
      method: 'GET', path: '/terms', name: '/terms', handler: (_req, res) => page(res, `Terms of use · tread at ${org}`, [
        `<h1>Terms of use: tread at ${org}</h1>`,
        `<p>This tread is run by ${org} for its own staff and service operations; using it falls under ${org}'s policies for its IT systems.</p>`,
        '<p>tread is open-source software under the Apache-2.0 licence, provided as is, without warranty.</p>',
      ].join('\n')),
    },
  ];
}
