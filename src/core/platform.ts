/** A chat platform plugged into tread: its outbound port, its HTTP routes, and its lifecycle. */
import type { Pacer } from './delivery/pacer.js';
import type { Route } from './route.js';
import type { ChatPort } from './chat-port.js';
import type { Platform } from './inbound.js';

/** What `adapters/<name>/index.ts` builds for `src/main.ts`. */
export interface PlatformAdapter {
  platform: Platform;
  port: ChatPort;
  /** The platform's limits as its port keeps them (Retry-After windows are shared between replicas through it). */
  pacer?: Pacer;
  /** Routes on tread's HTTP server (`/slack/events`, `/api/messages`). */
  routes?: Route[];
  /** Starts background work (Socket Mode, console input). */
  start?(): Promise<void>;
  /** Stops taking input. */
  stop?(): Promise<void>;
}
