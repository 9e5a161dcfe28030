/** zod pieces every section of the organisation file uses: ids, times of day, time zones. */
import { z } from 'zod';
import { isTimeZone } from '../time-zone.js';

/** A lower-case id or name (`checkout`, `web-primary`). */
export const idSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'use lower-case letters, digits, ".", "_" or "-"');

/** A time of day, `HH:MM` on a 24-hour clock. */
export const timeOfDaySchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'write a time as HH:MM (24-hour)');

/** An IANA time zone (`Europe/Berlin`). */
export const timezoneSchema = z.string().refine(isTimeZone, 'not an IANA time zone (like Europe/Berlin)');

/** A channel on one or more platforms: a Slack channel id or name, a Teams team and channel, a console channel name. */
export const channelSchema = z.object({
  slack: z.string().min(1).optional(),
  teams: z.object({ team: z.string().min(1), channel: z.string().min(1) }).optional(),
  console: z.string().min(1).optional(),
}).refine((c) => c.slack || c.teams || c.console, 'name the channel on at least one platform: slack, teams or console');

/** A channel as the organisation file names it. */
export type ChannelConfig = z.infer<typeof channelSchema>;
