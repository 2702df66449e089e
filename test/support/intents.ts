// Order intents as the risk gate passes them, for the broker and execution tests and the order bench:
// one builder, so every test names its intents the same way (`<signal id>:intent`).
import { clientOrderIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { OrderIntent } from '../../schemas/messages.ts';

/**
 * The intent of signal `signalId` (its id `<signalId>:intent`): a day market buy of 1 SPY at time 0
 * from strategy `test`, unless `fields` say otherwise.
 */
export function orderIntent(signalId: string, fields: Partial<OrderIntent> = {}): OrderIntent {
  return {
    schema: 'order_intent.v2',
    id: `${signalId}:intent`,
    ts_event: 0,
    ts_init: 0,
    strategy: 'test',
    symbol: 'SPY',
    side: 'buy',
    quantity: 1,
    order_type: 'market',
    time_in_force: 'day',
    reduce_only: false,
    signal_id: signalId,
    ...fields,
  };
}

/** The client order id the execution actor sends `intent` under. */
export function clientOrderIdOf(intent: OrderIntent): string {
  return clientOrderIdFor(orderIdFor(intent.id));
}
