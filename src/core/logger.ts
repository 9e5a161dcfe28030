/** pino logger: JSON by default, pretty on a TTY; secrets redacted. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line. */
export const REDACT_PATHS = [
  'token', 'password', 'secret', 'authorization', 'signingSecret', 'botToken', 'appToken', 'apiToken',
  '*.token', '*.password', '*.secret', '*.authorization', '*.signingSecret', '*.botToken', '*.appToken', '*.apiToken',
  'headers.authorization', 'req.headers.authorization', 'req.headers.cookie', '*.headers.authorization',
  '*.routingKey', 'routingKey', 'routing_key', '*.routing_key',
  // SDK errors carry the request they failed on (Bot Connector and Slack tokens).
  'err.request.headers.authorization', 'err.request.headers.Authorization', 'err.config.headers.Authorization', 'err.config.headers.authorization',
  'err.response.request.headers.authorization', '*.*.headers.authorization', '*.*.headers.Authorization',
];

/** Creates the process logger. */
export function createLogger(level = 'info', options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = options.pretty ?? (Boolean(process.stdout.isTTY) && !process.env.CI);
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { app: 'tread' } };
  if (options.destination) return pino(base, options.destination as any);
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname,app', translateTime: 'SYS:HH:MM:ss' } } });
  }
  return pino(base, pino.destination(2));
}

/** A logger that writes nothing (tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
