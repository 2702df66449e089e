// Reality models of the simulated venue, each a small interface with interchangeable
// implementations (the idea of LEAN's fill/slippage/fee models): the venue asks the latency model
// when an order arrives, the fill model whether and how much a market event fills, the slippage
// model what a taker pays beyond the touch, and the fee model what it costs.
import type { RandomSource } from '../../core/random.ts';
import type { Fill, OrderIntent } from '../../schemas/messages.ts';

export type Side = OrderIntent['side'];
export type Liquidity = Fill['liquidity'];

export interface LatencyModel {
  /** Milliseconds from a request (submit, cancel) to the venue acting on it. */
  delayMs(): number;
}

export class FixedLatency implements LatencyModel {
  constructor(readonly ms: number) {}

  delayMs(): number {
    return this.ms;
  }
}

/** Uniform integer milliseconds in [minMs, maxMs] from a seeded source, so a seed replays exactly. */
export class RandomLatency implements LatencyModel {
  constructor(
    readonly minMs: number,
    readonly maxMs: number,
    private readonly random: RandomSource,
  ) {}

  delayMs(): number {
    return this.minMs + Math.floor(this.random.next() * (this.maxMs - this.minMs + 1));
  }
}

/** A trade print or a top-of-book update, as the fill model sees it. */
export type MarketEvent =
  | { kind: 'trade'; price: number; size: number }
  | { kind: 'quote'; bid: number; ask: number; bidSize: number; askSize: number };

export interface OrderView {
  side: Side;
  orderType: OrderIntent['order_type'];
  limitPrice: number | undefined;
  leaves: number;
  /** True on the first market event after the order reached the venue. */
  firstLook: boolean;
}

export interface FillOpportunity {
  price: number;
  quantity: number;
  liquidity: Liquidity;
}

export interface FillModel {
  /**
   * What `event` fills of `order`, given `available` size left on this event after orders ahead
   * of it; undefined when nothing fills.
   */
  match(order: OrderView, event: MarketEvent, available: number): FillOpportunity | undefined;
}

/** Size a market event offers to an order of `side`: the trade size, or the opposite side of the book. */
export function availableSize(event: MarketEvent, side: Side): number {
  if (event.kind === 'trade') return event.size;
  return side === 'buy' ? event.askSize : event.bidSize;
}

/**
 * Market orders fill at the next trade or quote after arriving; limit orders fill when crossed.
 * A limit order marketable on its first look takes liquidity at the event price; a resting one is
 * filled as maker at its limit when a trade prints through it or the opposite quote reaches it
 * (a trade exactly at the limit is not enough: the queue ahead of it is unknown). Every fill is
 * capped by the size the event offers.
 */
export class NextTickFillModel implements FillModel {
  match(order: OrderView, event: MarketEvent, available: number): FillOpportunity | undefined {
    const quantity = Math.min(order.leaves, available);
    if (!(quantity > 0)) return undefined;
    const buy = order.side === 'buy';
    const eventPrice = event.kind === 'trade' ? event.price : buy ? event.ask : event.bid;
    if (!(eventPrice > 0)) return undefined;
    if (order.orderType === 'market') return { price: eventPrice, quantity, liquidity: 'taker' };
    const limit = order.limitPrice ?? Number.NaN;
    const reaches = buy ? eventPrice <= limit : eventPrice >= limit;
    if (!reaches) return undefined;
    if (order.firstLook) return { price: eventPrice, quantity, liquidity: 'taker' };
    const through = event.kind === 'quote' || eventPrice !== limit;
    return through ? { price: limit, quantity, liquidity: 'maker' } : undefined;
  }
}

export interface SlippageModel {
  /** Price a taker actually pays (buy) or receives (sell), starting from the matched price. */
  apply(side: Side, price: number, bid: number, ask: number): number;
}

/** A fixed cost in basis points against the taker. */
export class BpsSlippage implements SlippageModel {
  constructor(readonly bps: number) {}

  apply(side: Side, price: number): number {
    const move = (price * this.bps) / 10_000;
    return side === 'buy' ? price + move : price - move;
  }
}

/** A fraction of the current spread against the taker; no quote known means no slippage. */
export class SpreadSlippage implements SlippageModel {
  constructor(readonly fractionOfSpread: number) {}

  apply(side: Side, price: number, bid: number, ask: number): number {
    const spread = ask - bid;
    if (!(spread > 0)) return price;
    const move = spread * this.fractionOfSpread;
    return side === 'buy' ? price + move : price - move;
  }
}

export interface FeeModel {
  fee(notional: number, liquidity: Liquidity): number;
}

/** Maker/taker fee in basis points of notional, never below `minimum` per fill. */
export class MakerTakerFee implements FeeModel {
  constructor(
    readonly makerBps: number,
    readonly takerBps: number,
    readonly minimum = 0,
  ) {}

  fee(notional: number, liquidity: Liquidity): number {
    const bps = liquidity === 'maker' ? this.makerBps : this.takerBps;
    return Math.max((notional * bps) / 10_000, this.minimum);
  }
}
