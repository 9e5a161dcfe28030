/** The request sections of the organisation file: the service `catalog`, `request` settings and the `knowledge` folder. */
import { z } from 'zod';
import { channelSchema, idSchema } from '../../core/config/schemas.js';
import type { OrgConfig } from '../../core/config/org.js';
import { durationSchema } from '../../core/duration.js';
import { fieldSpecSchema } from '../../core/forms.js';
import type { ConfigSection } from '../../core/workflow.js';

/** Words that are `/request` subcommands, so no catalog item may be named so. */
export const RESERVED_WORDS: readonly string[] = ['list', 'show', 'cancel', 'comment', 'complete', 'stats', 'help', 'access'];

const taskSchema = z.object({
  title: z.string().min(1).max(150),
  /** The team that does it (defaults to the item's fulfilment team). */
  team: idSchema.optional(),
  /** Titles of tasks of the same item that must be done first; tasks without `after` run in parallel. */
  after: z.array(z.string().min(1)).optional(),
}).strict();

const fulfilmentSchema = z.object({
  team: idSchema.optional(),
  /** Where the tasks are posted (defaults to `request.announce`; without either, to each team member by DM). */
  channel: channelSchema.optional(),
  tasks: z.array(taskSchema).min(1, 'list at least one task').optional(),
  /** Fulfilment by another system: tread sends the request there (signed) and the system reports back. */
  webhook: z.object({ url: z.url({ protocol: /^https?$/, error: 'write the URL as http(s)://…' }), secret: z.string().min(16, 'use a secret of at least 16 characters') }).strict().optional(),
}).strict().superRefine((f, ctx) => {
  if (!f.tasks && !f.webhook) ctx.addIssue({ code: 'custom', message: 'give either tasks: [...] (with team) or webhook: {url, secret}' });
  if (f.tasks && f.webhook) ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'give either tasks or webhook, not both' });
  if (f.tasks && !f.team) ctx.addIssue({ code: 'custom', path: ['team'], message: 'tasks need the team that does them' });
});

const slaSchema = z.object({
  /** First response: the first task claimed, or the fulfilment webhook accepted. */
  response: durationSchema,
  resolution: durationSchema,
  businessHours: z.boolean().default(false),
}).strict();

/** A catalog item. */
export const catalogItemSchema = z.object({
  name: idSchema,
  title: z.string().min(1).max(100),
  description: z.string().max(500).optional(),
  category: z.string().min(1).default('Other'),
  /** The service it is about: `{owners: true}` approval targets are its owners. */
  service: idSchema.optional(),
  fields: z.array(fieldSpecSchema).default([]),
  approvalPolicy: idSchema.optional(),
  fulfilment: fulfilmentSchema,
  sla: slaSchema.optional(),
  /** Only members of these teams see and request it (everyone when left out). */
  visibleTo: z.array(idSchema).min(1).optional(),
  /** The item `/ask`'s "Didn't help — open a request" opens (at most one). */
  generic: z.boolean().default(false),
}).strict();

const settingsSchema = z.object({
  /** Fulfilled and incomplete requests close by themselves after this. */
  closeAfter: durationSchema.default(3 * 86_400_000),
  slaWarnAt: z.number().gt(0).lt(1).default(0.75),
  /** Where tasks and SLA breaches go when an item names no channel. */
  announce: channelSchema.optional(),
}).strict().default({ closeAfter: 3 * 86_400_000, slaWarnAt: 0.75 });

const knowledgeSchema = z.object({
  /** A folder of markdown articles, relative to the organisation file. */
  folder: z.string().min(1),
  reindexEvery: durationSchema.default(5 * 60_000),
}).strict().optional();

const shape = {
  catalog: z.array(catalogItemSchema).default([]),
  request: settingsSchema,
  knowledge: knowledgeSchema,
};

/** The parsed request sections. */
export type RequestConfig = z.infer<z.ZodObject<typeof shape>>;
/** A parsed catalog item. */
export type CatalogItem = RequestConfig['catalog'][number];

declare module '../../core/config/org.js' {
  interface OrgSections extends RequestConfig {}
}

/** Cross-checks: unique names and field ids, known teams, services and policies, `after` naming earlier tasks without cycles. */
function checkRequestConfig(org: OrgConfig, issue: (path: (string | number)[], message: string) => void): void {
  const teams = new Set(org.teams.map((t) => t.id));
  const services = new Set(org.services.map((s) => s.name));
  const policies = org.approvalPolicies ? new Set(org.approvalPolicies.map((p) => p.name)) : undefined;
  const names = new Set<string>();
  let generic = -1;
  org.catalog.forEach((item, i) => {
    const at = (...rest: (string | number)[]) => ['catalog', i, ...rest];
    if (names.has(item.name)) issue(at('name'), `duplicate catalog item "${item.name}"`);
    if (RESERVED_WORDS.includes(item.name)) issue(at('name'), `"${item.name}" is a /request subcommand; name the item otherwise`);
    names.add(item.name);
    if (item.service && !services.has(item.service)) issue(at('service'), `unknown service "${item.service}" (not in services)`);
    if (item.approvalPolicy && policies && !policies.has(item.approvalPolicy)) issue(at('approvalPolicy'), `unknown approval policy "${item.approvalPolicy}" (not in approvalPolicies)`);
    if (item.approvalPolicy && !policies) issue(at('approvalPolicy'), 'approvals are not available in this tread');
    item.visibleTo?.forEach((t, j) => { if (!teams.has(t)) issue(at('visibleTo', j), `unknown team "${t}" (not in teams)`); });
    const ids = new Set<string>();
    item.fields.forEach((f, j) => {
      if (ids.has(f.id)) issue(at('fields', j, 'id'), `duplicate field id "${f.id}"`);
      ids.add(f.id);
    });
    if (item.generic) {
      if (generic >= 0) issue(at('generic'), `only one item may be generic (catalog[${generic}] already is)`);
      generic = i;
    }
    const f = item.fulfilment;
    if (f.team && !teams.has(f.team)) issue(at('fulfilment', 'team'), `unknown team "${f.team}" (not in teams)`);
    const titles = (f.tasks ?? []).map((t) => t.title);
    (f.tasks ?? []).forEach((t, j) => {
      if (titles.indexOf(t.title) !== j) issue(at('fulfilment', 'tasks', j, 'title'), `duplicate task "${t.title}"`);
      if (t.team && !teams.has(t.team)) issue(at('fulfilment', 'tasks', j, 'team'), `unknown team "${t.team}" (not in teams)`);
      t.after?.forEach((a, k) => {
        if (!titles.includes(a)) issue(at('fulfilment', 'tasks', j, 'after', k), `no task "${a}" in this item (tasks: ${titles.join(', ')})`);
        else if (a === t.title) issue(at('fulfilment', 'tasks', j, 'after', k), 'a task cannot wait for itself');
      });
    });
    if (hasCycle(f.tasks ?? [])) issue(at('fulfilment', 'tasks'), 'the tasks wait for each other in a circle: nothing could start');
  });
}

function hasCycle(tasks: readonly { title: string; after?: string[] }[]): boolean {
  const deps = new Map(tasks.map((t) => [t.title, t.after ?? []]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string): boolean => {
    if (state.get(t) === 'done') return false;
    if (state.get(t) === 'visiting') return true;
    state.set(t, 'visiting');
    const cyclic = (deps.get(t) ?? []).some((d) => deps.has(d) && d !== t && visit(d));
    state.set(t, 'done');
    return cyclic;
  };
  return tasks.some((t) => visit(t.title));
}

/** The request workflow's sections of the organisation file. */
export const requestConfig: ConfigSection = { shape, check: checkRequestConfig };
