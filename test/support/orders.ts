// What the execution tests and the order bench send the execution actor, and the simulated venue they
// give it where a broker is the venue (its options ask for one): one builder of each, so every test
// names its intents the same way (`<signal id>:intent`).
import type { VenueOrder } from '../../actors/execution/broker-adapter.ts';
import type { SimulatedVenueOptions } from '../../actors/execution/simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../../actors/execution/venue-models.ts';
import { clientOrderIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { ControlCommand, OrderIntent } from '../../schemas/messages.ts';

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

/** The unit tests' order: a good-till-cancelled market buy of 100 AAPL from strategy `s`. */
export const AAPL_ORDER = {
  strategy: 's',
  symbol: 'AAPL',
  quantity: 100,
  time_in_force: 'gtc',
} as const satisfies Partial<OrderIntent>;

/**
 * An order as a venue states it right after accepting it: a market buy of 100 AAPL with nothing
 * filled, unless `fields` say otherwise.
 */
export function acceptedVenueOrder(
  fields: Partial<VenueOrder> & Pick<VenueOrder, 'clientOrderId' | 'venueOrderId' | 'updatedAt'>,
): VenueOrder {
  return {
    symbol: 'AAPL',
    side: 'buy',
    orderType: 'market',
    quantity: 100,
    filledQuantity: 0,
    averageFillPrice: undefined,
    limitPrice: undefined,
    stopPrice: undefined,
    status: 'accepted',
    legs: [],
    reason: undefined,
    ...fields,
  };
}

/** The client order id the execution actor sends `intent` under. */
export function clientOrderIdOf(intent: OrderIntent): string {
  return clientOrderIdFor(orderIdFor(intent.id));
}

/** The cancel of `orderId` as the risk gate sends it on ord.cancel.<symbol>, at `ts`. */
export function cancelCommand(orderId: string, ts: number): ControlCommand {
  return {
    schema: 'control_command.v1',
    id: `${orderId}:cancel`,
    ts_event: ts,
    ts_init: ts,
    actor: 'execution',
    command: 'cancel',
    operator: 'risk',
    args: { order_id: orderId },
  };
}

/** A simulated venue with no latency, slippage or fee, filling on the next tick. */
export function frictionlessVenue(): SimulatedVenueOptions {
  return {
    latency: new FixedLatency(0),
    fill: new NextTickFillModel(),
    slippage: new BpsSlippage(0),
    fee: new MakerTakerFee(0, 0),
  };
}
