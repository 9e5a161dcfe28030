/** Coded errors: expected failures carry a code and a user-facing sentence. */

/** An expected failure. `message` is shown to the user as it is. */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status for the REST API: 400 bad input, 403 forbidden, 404 unknown, 409 state conflict. */
    readonly status: 400 | 403 | 404 | 409 | 413 | 429 | 503 = 400,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/** Thrown by a ChatPort method the platform cannot do (the console cannot create channels). */
export class UnsupportedError extends Error {
  override readonly name = 'UnsupportedError';
  readonly code = 'chat.unsupported';
  constructor(readonly operation: string, message: string) {
    super(message);
  }
}

/** Thrown by a ChatPort when the platform says to wait (HTTP 429). */
export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  readonly code = 'chat.rate_limited';
  constructor(readonly retryAfterMs: number, message = 'rate limited') {
    super(message);
  }
}

/** Thrown by a ChatPort when retrying cannot help (channel not found, not in channel, invalid blocks). */
export class PermanentChatError extends Error {
  override readonly name = 'PermanentChatError';
  readonly code = 'chat.permanent';
}

/**
 * A message the platform just stored got an id that is already recorded for another card (chat_messages is unique on
 * platform, channel and message id). Recording it anyway would lose its later updates, and posting again would double
 * it: the outbox row goes to the dead letters at once, and the conflict is logged and counted.
 */
export class CardConflictError extends Error {
  override readonly name = 'CardConflictError';
  readonly code = 'chat.card_conflict';
}

/** A row that waited for its turn and was overtaken by a newer one (a newer update of the same card): not sent. */
export class SupersededError extends Error {
  override readonly name = 'SupersededError';
  readonly code = 'chat.superseded';
}

/** Shorthands for common coded errors. */
export const notFound = (code: string, message: string) => new DomainError(code, message, 404);
export const conflict = (code: string, message: string) => new DomainError(code, message, 409);
export const forbidden = (code: string, message: string) => new DomainError(code, message, 403);
export const badInput = (code: string, message: string, issues?: { path: string; message: string }[]) =>
  new DomainError(code, message, 400, issues);

/** True for a DomainError. */
export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

/** Network errors that mean the database server cannot be reached right now. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/** postgres.js's own codes for a connection that closed or could not be opened. */
const DRIVER_CLOSED = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/**
 * Why the database cannot do work right now, in a few words, when `e` (or an error it wraps as `cause`: drizzle wraps
 * the driver's) says so: the server is unreachable or closed the connection, it is shutting down or starting up
 * (SQLSTATE 57P01–57P03, class 08), or it lacks a resource (class 53: disk full, out of memory, too many
 * connections; ENOSPC from an embedded database's files). Undefined for any other error. Such a failure is not a bug of
 * tread's: the HTTP server answers it with 503 and the chat with a retry-later message, so senders retry.
 */
export function databaseUnavailable(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = String((cur as { code?: unknown }).code ?? '');
    const message = String((cur as { message?: unknown }).message ?? '');
    if (code === 'ENOSPC' || code === '53100' || /no space left on device/i.test(message)) return `the database's disk is full (${code || 'ENOSPC'}: ${message.slice(0, 160)})`;
    if (UNREACHABLE.has(code)) return `cannot reach the database server (${code})`;
    if (DRIVER_CLOSED.has(code)) return `the database connection closed (${code})`;
    if (code === '57P01' || code === '57P02') return `the database server ended the connection (${code})`;
    if (code === '57P03') return `the database server is starting up or shutting down (${code})`;
    if (code.startsWith('08')) return `the database connection failed (${code})`;
    if (code.startsWith('53')) return `the database server is out of a resource (${code}: ${message.slice(0, 120)})`;
  }
  return undefined;
}

/** How long after the last write that failed on a full disk /readyz says so. */
export const DISK_FULL_READY_MS = 30_000;

/**
 * What the database's recent failures say about readiness. A full disk does not stop reads (so a read-only readiness
 * check would pass) while every write fails: the places that answer 503 for an unavailable database note it here, and
 * /readyz reports the disk as full until a write commits again, or DISK_FULL_READY_MS have passed without another
 * such failure (with no traffic, nothing else would tell).
 */
export class DatabaseHealth {
  private diskFullAt = -Infinity;
  private diskFullReason = '';

  /** databaseUnavailable(e), noting a full disk for readiness: the one call of the places that answer such failures 503. */
  unavailable(e: unknown): string | undefined {
    const reason = databaseUnavailable(e);
    if (reason) this.note(reason);
    return reason;
  }

  /** Notes a failure that databaseUnavailable() classified (`reason` is its sentence). */
  note(reason: string, now = Date.now()): void {
    if (!reason.startsWith("the database's disk is full")) return;
    this.diskFullAt = now;
    this.diskFullReason = reason;
  }

  /** Notes a write that committed: the disk has room again. */
  wrote(): void {
    this.diskFullAt = -Infinity;
  }

  /** The last full-disk failure's reason while it is recent (and no write committed since), else undefined. */
  diskFull(now = Date.now()): string | undefined {
    return now - this.diskFullAt < DISK_FULL_READY_MS ? this.diskFullReason : undefined;
  }
}

/**
 * Runs `work` (a database write that must not be lost, like recording that a message was sent), trying again while the
 * database is unavailable (see databaseUnavailable) until `deadline` (epoch ms): 100 ms doubling to at most 2 s
 * between tries. Any other error, or the deadline, throws the last error. Used after something outside was already done
 * (a chat post) so that an outage does not make the outbox do it twice.
 */
export async function persistThroughOutage<T>(work: () => Promise<T>, deadline: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      const wait = Math.min(100 * 2 ** attempt, 2000);
      if (!databaseUnavailable(e) || Date.now() + wait > deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
