/**
 * What the dispatcher is delivering right now, carried to the ports' pacers without widening the ChatPort interface:
 * a call made while delivering a row of priority 2 (a page, a reply someone waits for) goes before calls of priority 0.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The outbox row being delivered. */
export interface DeliveryContext {
  rowId: number;
  priority: number;
}

const storage = new AsyncLocalStorage<DeliveryContext>();

/** Runs `work` as the delivery of a row. */
export function inDelivery<T>(context: DeliveryContext, work: () => Promise<T>): Promise<T> {
  return storage.run(context, work);
}

/** The priority of the row being delivered; outside a delivery (answering someone who just acted) 2, the highest. */
export function deliveryPriority(): number {
  return storage.getStore()?.priority ?? 2;
}
