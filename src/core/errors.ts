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
