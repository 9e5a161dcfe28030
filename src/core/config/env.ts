/** Environment variables, validated at start-up. A bad value stops tread with one line naming it. */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { OpenOptions } from '../../../db/client.js';

const optional = z.string().trim().min(1).optional().catch(undefined);
const bool = z.enum(['1', 'true', 'yes', '0', 'false', 'no', '']).optional()
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

/** The environment schema. Chat platform variables are validated by their adapters' own checks too. */
export const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  TREAD_DATA_DIR: z.string().min(1).default('./data'),
  /** A PGlite snapshot (a tarball of a data directory) a new data directory starts from instead of PGlite's initdb. */
  TREAD_PGLITE_SNAPSHOT: z.string().min(1).optional(),
  /** The pre-initialised data directory a new PGlite directory is copied from (default: dist/pglite-template), or off. */
  TREAD_PGLITE_TEMPLATE: z.string().min(1).optional(),
  /** PostgreSQL settings for PGlite over tread's (db/client.ts PGLITE_SETTINGS): name=value pairs separated by spaces. */
  /** 1: let V8 optimise PGlite's WebAssembly with TurboFan (more memory); default: its baseline compiler only. */
  TREAD_PGLITE_OPTIMISE: bool,
  TREAD_PGLITE_SETTINGS: z.string().regex(/^\s*([A-Za-z_][A-Za-z0-9_.]*=\S+\s*)*$/, 'must be name=value pairs separated by spaces, e.g. shared_buffers=32MB').optional(),
  TREAD_CONFIG: z.string().min(1).optional(),
  TREAD_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  TREAD_PUBLIC_URL: z.url().optional(),
  TREAD_CONSOLE: bool,
  TREAD_CONSOLE_USER: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  /** Seconds between scheduler ticks (default 5). */
  TREAD_TICK_SECONDS: z.coerce.number().int().min(1).max(60).default(5),
  /** Seconds a process holds an acknowledged chat request before another replica (or the next start) replays it. */
  TREAD_INBOUND_LEASE_SECONDS: z.coerce.number().int().min(1).max(300).default(15),
  SLACK_BOT_TOKEN: optional,
  SLACK_SIGNING_SECRET: optional,
  SLACK_APP_TOKEN: optional,
  SLACK_API_URL: z.url().optional(),
  MICROSOFT_APP_ID: optional,
  MICROSOFT_APP_PASSWORD: optional,
  MICROSOFT_APP_TENANT_ID: optional,
  MICROSOFT_APP_TYPE: z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMSI']).optional(),
}).superRefine((env, ctx) => {
  if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
    ctx.addIssue({ code: 'custom', path: [env.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'], message: 'TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither' });
  }
});

export type Env = z.infer<typeof envSchema>;

/** How to open the embedded database (PGlite) the environment describes. */
export function pgliteOptions(env: Env): Pick<OpenOptions, 'dataDir' | 'pgliteSnapshot' | 'pgliteTemplate' | 'pgliteSettings' | 'pgliteOptimise'> {
  const template = env.TREAD_PGLITE_TEMPLATE;
  return {
    dataDir: resolve(env.TREAD_DATA_DIR),
    ...(env.TREAD_PGLITE_SNAPSHOT ? { pgliteSnapshot: resolve(env.TREAD_PGLITE_SNAPSHOT) } : {}),
    ...(template ? { pgliteTemplate: template === 'off' ? false : resolve(template) } : {}),
    ...(env.TREAD_PGLITE_SETTINGS ? { pgliteSettings: env.TREAD_PGLITE_SETTINGS } : {}),
    ...(env.TREAD_PGLITE_OPTIMISE ? { pgliteOptimise: true } : {}),
  };
}

/** Raised for a bad environment; `message` is the one line to print. */
export class EnvError extends Error {
  override readonly name = 'EnvError';
}

/** Parses the environment; throws EnvError naming the first bad variable. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new EnvError(`${name}: ${issue.message}`);
  }
  return result.data;
}
