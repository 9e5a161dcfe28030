/** pino logger: JSON by default, pretty on a TTY; secrets redacted. */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import { formatClock } from './time-zone.js';

export type { Logger };

/** Keys whose values never reach a log line. */
export const REDACT_PATHS = [
  'token', 'password', 'secret', 'authorization', 'signingSecret', 'botToken', 'appToken', 'apiToken',
  '*.token', '*.password', '*.secret', '*.authorization', '*.signingSecret', '*.botToken', '*.appToken', '*.apiToken',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie', '*.headers.authorization',
  '*.routingKey', 'routingKey', 'routing_key', '*.routing_key',
  // access connectors: a database connection string holds its password
  'connectionString', '*.connectionString', '*.*.connectionString',
  // SDK errors carry the request they failed on (Bot Connector and Slack tokens).
  'err.request.headers.authorization', 'err.request.headers.Authorization', 'err.config.headers.Authorization', 'err.config.headers.authorization',
  'err.response.request.headers.authorization', '*.*.headers.authorization', '*.*.headers.Authorization',
];

/**
 * Creates the process logger. Pretty (on a TTY) lines show the time in `timeZone` (the organisation's, like the chat)
 * with the zone named; JSON lines keep epoch milliseconds.
 */
export function createLogger(level = 'info', options: { pretty?: boolean; destination?: NodeJS.WritableStream; timeZone?: string } = {}): Logger {
  const pretty = options.pretty ?? (Boolean(process.stdout.isTTY) && !process.env.CI);
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'tread' } };
  const zone = options.timeZone;
  const zonedTime = zone ? { timestamp: () => `,"time":"${formatClock(new Date(), zone)}"` } : {};
  if (options.destination) return pino({ ...base, ...(pretty ? zonedTime : {}) }, options.destination as any);
  if (pretty) {
    // In this thread and synchronous (not a worker transport): a line is on the terminal before log.info returns, so
    // the console's prompt never lands above it. pino-pretty prints a string time as it is; without a zone it formats
    // epoch ms in the system's zone. Loaded only here: JSON logging does not pay for it.
    const build = createRequire(import.meta.url)('pino-pretty') as (options: Record<string, unknown>) => DestinationStream;
    return pino({ ...base, ...zonedTime }, build({ destination: 2, sync: true, ignore: 'pid,hostname,app', translateTime: zone ? false : 'SYS:HH:MM:ss' }));
  }
  return pino(base, pino.destination(2));
}

/** A logger that writes nothing (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
