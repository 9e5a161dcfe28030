/** HTTP routes as workflows and adapters declare them; `src/http/server.ts` serves them. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A request with its path and query parsed. */
export interface Request extends IncomingMessage {
  path: string;
  query: URLSearchParams;
  /** Path parameters captured by the route pattern's named groups. */
  params: Record<string, string>;
}

/** A route handler. It writes the response itself (see `sendJson` in src/http/rest.ts). */
export type RouteHandler = (req: Request, res: ServerResponse) => Promise<void> | void;

/** One route: method and an exact path or a pattern with named groups. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | '*';
  path: string | RegExp;
  handler: RouteHandler;
  /** Label for metrics (defaults to the path). */
  name?: string;
}

/** Helpers the runtime hands to workflow routes. */
export interface RouteTools {
  /** Checks `Authorization: Bearer $TREAD_API_TOKEN`; answers 401/404 itself and returns false when the caller may not proceed. */
  authorizeApi(req: IncomingMessage, res: ServerResponse): boolean;
  /** Runs work after an HTTP request changed state: sends the outbox and due timers now instead of at the next tick. */
  kick(): void;
}
