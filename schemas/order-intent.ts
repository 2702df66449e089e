// order_intent.v2 beside v1: what v1 meant in v2's terms, and the rules across v2's fields that JSON
// Schema cannot say (checked by the contract, schemas/validate.ts).
import type { OrderIntent, OrderIntentV1 } from './messages.ts';

/** A v1 intent as v2: the same order (v1 had only market and limit, day / gtc / ioc). Seal kept. */
export function upgradeOrderIntent(intent: OrderIntent | OrderIntentV1): OrderIntent {
  if (intent.schema === 'order_intent.v2') return intent;
  return { ...intent, schema: 'order_intent.v2' };
}

/** Why an order_intent.v2 is inconsistent, or undefined. */
export function orderIntentProblem(intent: OrderIntent): string | undefined {
  const { order_type: type, limit_price: limit, stop_price: stop, bracket } = intent;
  const needsLimit = type === 'limit' || type === 'stop_limit';
  const needsStop = type === 'stop' || type === 'stop_limit';
  if (needsLimit !== (limit !== undefined))
    return `order_intent: /limit_price is ${needsLimit ? 'required' : 'not allowed'} for a ${type} order`;
  if (needsStop !== (stop !== undefined))
    return `order_intent: /stop_price is ${needsStop ? 'required' : 'not allowed'} for a ${type} order`;
  if (bracket !== undefined) {
    if (intent.reduce_only) return 'order_intent: /bracket is only for an entry, not a reduce-only order';
    const takeProfit = bracket.take_profit.limit_price;
    const stopLoss = bracket.stop_loss.stop_price;
    // A long's exits sell: profit above, stop below; a short's the other way round.
    const ordered = intent.side === 'buy' ? takeProfit > stopLoss : takeProfit < stopLoss;
    if (!ordered)
      return `order_intent: /bracket take-profit ${takeProfit} must be ${intent.side === 'buy' ? 'above' : 'below'} the stop-loss ${stopLoss} of a ${intent.side}`;
  }
  if (intent.exit_after !== undefined && bracket === undefined)
    return 'order_intent: /exit_after needs a /bracket';
  if (intent.exit_reason !== undefined && bracket !== undefined)
    return 'order_intent: /exit_reason marks an exit, which carries no /bracket';
  return undefined;
}
