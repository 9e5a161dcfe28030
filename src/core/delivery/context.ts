/**
 * What the dispatcher is delivering right now, carried to the ports' pacers without widening the ChatPort interface:
 * a call made while delivering a row of priority 2 (a page, a reply someone waits for) goes before calls of priority 0.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The outbox row being delivered. */
export interface DeliveryContext {
  rowId: number;
  priority: number;
  /** True when a newer row makes this one pointless (a newer update of the same card is pending). */
  superseded?: () => Promise<boolean>;
}

const storage = new AsyncLocalStorage<DeliveryContext>();

/** Runs `work` as the delivery of a row. */
export function inDelivery<T>(context: DeliveryContext, work: () => Promise<T>): Promise<T> {
  return storage.run(context, work);
}

/**
 * After a call waited for its slot: is the row it belongs to still worth sending? A card update that waited while a newer
 * one was written is not (the newer one carries everything).
 */
export async function stillWanted(): Promise<boolean> {
  const check = storage.getStore()?.superseded;
  return !check || !(await check());
}

/** The priority of the row being delivered; outside a delivery (answering someone who just acted) 2, the highest. */
export function deliveryPriority(): number {
  return storage.getStore()?.priority ?? 2;
}
