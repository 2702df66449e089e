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

/**
 * A trade print, a top-of-book update or a bar, as the fill model sees it. A bar is the path from its
 * open through its range: an order meets it at the open (or where its stop triggered), and a resting
 * order is reached when the range trades through its price.
 */
export type MarketEvent =
  | { kind: 'trade'; price: number; size: number }
  | { kind: 'quote'; bid: number; ask: number; bidSize: number; askSize: number }
  | { kind: 'bar'; open: number; high: number; low: number; close: number; volume: number };

export interface OrderView {
  side: Side;
  orderType: OrderIntent['order_type'];
  limitPrice: number | undefined;
  leaves: number;
  /** True on the first market event after the order reached the venue, or after its stop triggered. */
  firstLook: boolean;
  /** Where a stop triggered within a bar (its stop price, or the open when the bar gapped past it). */
  triggerPrice?: number | undefined;
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

/** Size a market event offers to an order of `side`: the trade size or bar volume, or the opposite side of the book. */
export function availableSize(event: MarketEvent, side: Side): number {
  if (event.kind === 'trade') return event.size;
  if (event.kind === 'bar') return event.volume;
  return side === 'buy' ? event.askSize : event.bidSize;
}

/**
 * The price at which `event` triggers a stop of `side` at `stop`, or undefined when it does not: a buy
 * stop when the market trades or is offered at or above it, a sell stop at or below. A bar triggers it
 * when its range reaches the stop, at the stop, or at the open when the bar opened past it (a gap
 * fills at the open, not at a price that never traded).
 */
export function stopTriggerPrice(event: MarketEvent, side: Side, stop: number): number | undefined {
  const buy = side === 'buy';
  const reached = (price: number) => price > 0 && (buy ? price >= stop : price <= stop);
  if (event.kind === 'trade') return reached(event.price) ? event.price : undefined;
  if (event.kind === 'quote') {
    const touch = buy ? event.ask : event.bid;
    return reached(touch) ? touch : undefined;
  }
  if (reached(event.open)) return event.open;
  return reached(buy ? event.high : event.low) ? stop : undefined;
}

/**
 * Market orders fill at the next trade or quote after arriving; limit orders fill when crossed.
 * A limit order marketable on its first look takes liquidity at the event price; a resting one is
 * filled as maker at its limit when a trade prints through it or the opposite quote reaches it
 * (a trade exactly at the limit is not enough: the queue ahead of it is unknown). Every fill is
 * capped by the size the event offers. The venue hands a triggered stop over as a market order and a
 * triggered stop-limit as a limit order on its first look.
 *
 * On a bar, an order meets the open (a triggered stop: its trigger price) as it would a trade there;
 * a limit order not filled there is filled as maker at its limit when the bar's range goes through it
 * (high above a sell's limit, low below a buy's). A stop-limit that triggered within the bar is not:
 * the part of the range after its trigger is unknown.
 */
export class NextTickFillModel implements FillModel {
  match(order: OrderView, event: MarketEvent, available: number): FillOpportunity | undefined {
    const quantity = Math.min(order.leaves, available);
    if (!(quantity > 0)) return undefined;
    if (event.kind === 'bar') return matchBar(order, event, quantity);
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

function matchBar(
  order: OrderView,
  bar: Extract<MarketEvent, { kind: 'bar' }>,
  quantity: number,
): FillOpportunity | undefined {
  const start = order.triggerPrice ?? bar.open;
  if (!(start > 0)) return undefined;
  if (order.orderType === 'market') return { price: start, quantity, liquidity: 'taker' };
  const buy = order.side === 'buy';
  const limit = order.limitPrice ?? Number.NaN;
  if (order.firstLook && (buy ? start <= limit : start >= limit))
    return { price: start, quantity, liquidity: 'taker' };
  if (order.triggerPrice !== undefined) return undefined;
  const through = buy ? bar.low < limit : bar.high > limit;
  return through ? { price: limit, quantity, liquidity: 'maker' } : undefined;
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
