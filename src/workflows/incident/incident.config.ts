/** The incident sections of the organisation file: SLA targets per priority, and incident settings. */
import { z } from 'zod';
import { durationSchema } from '../../core/duration.js';
import type { ConfigSection } from '../../core/workflow.js';

const slaTargetSchema = z.object({
  response: durationSchema,
  resolution: durationSchema,
  businessHours: z.boolean().default(false),
});

const DEFAULT_SLA = {
  P1: { response: '15m', resolution: '4h' },
  P2: { response: '30m', resolution: '8h' },
  P3: { response: '30m', resolution: '1d' },
  P4: { response: '4h', resolution: '3d' },
  P5: { response: '1d', resolution: '5d' },
};

/** A priority left out keeps its default target. */
const target = (p: keyof typeof DEFAULT_SLA) => slaTargetSchema.default(() => slaTargetSchema.parse(DEFAULT_SLA[p]));
const slaSchema = z.object({ P1: target('P1'), P2: target('P2'), P3: target('P3'), P4: target('P4'), P5: target('P5') });

const incidentSettingsSchema = z.object({
  autoCloseAfter: durationSchema.default(3 * 86_400_000),
  statusUpdateEvery: durationSchema.default(30 * 60_000),
  /** Where new incidents are announced when no service channel applies, per platform. */
  announce: z.object({ slack: z.string().optional(), teams: z.object({ team: z.string(), channel: z.string() }).optional() }).default({}),
  slaWarnAt: z.number().gt(0).lt(1).default(0.75),
}).default({ autoCloseAfter: 3 * 86_400_000, statusUpdateEvery: 30 * 60_000, announce: {}, slaWarnAt: 0.75 });

const shape = {
  /** Per priority: `response` (acknowledged) and `resolution` (resolved) targets. */
  sla: slaSchema.default(() => slaSchema.parse({})),
  incident: incidentSettingsSchema,
};

/** The parsed incident sections. */
export type IncidentConfig = z.infer<z.ZodObject<typeof shape>>;
/** One SLA target. */
export type SlaTarget = IncidentConfig['sla']['P1'];

declare module '../../core/config/org.js' {
  interface OrgSections extends IncidentConfig {}
}

/** The incident workflow's sections of the organisation file. */
export const incidentConfig: ConfigSection = { shape };
