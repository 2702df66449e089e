// The pre-trade checks, each a named function, in one ordered list (as NautilusTrader's
// check_order_* methods). RiskGateCore.evaluate() runs every one of them for each signal; the order
// of the list is the order of a decision's checks[] and the precedence of its denial code (the first
// failure decides). A check skipped because what it compares is missing (no instrument for the
// quantity and position limits, no price for the price and exposure limits) records nothing.
import type { EntryExits } from './barrier-exits.ts';
import type { BookEntry, PositionBook, Side } from './book.ts';
import {
  type CheckRecorder,
  type CheckResult,
  type SharedPair,
  sharedCheck,
  sharedPair,
} from './check-record.ts';
import type { EquityTriggers, TradingState } from './equity-triggers.ts';
import type { InstrumentLimits, RiskLimits, TradingSession } from './limits.ts';
import type { Throttle } from './throttle.ts';
import type { InstrumentSpec, VenueQuantity } from './venue-rules.ts';

/** What the gate keeps per symbol beside the book: its limits, read once, and its same-side throttles. */
export interface SymbolRules {
  readonly instrument: InstrumentLimits | undefined;
  /** The venue's lot, minimum and tick rules, when the trading config gives them. */
  readonly venue: InstrumentSpec | undefined;
  readonly restricted: boolean;
  /** Same-side pass times, when repeatedExecution is configured. */
  readonly buys: Throttle | undefined;
  readonly sells: Throttle | undefined;
}

export type SymbolState = BookEntry<SymbolRules>;

/**
 * The order a signal asks for, as every check sees it. evaluate() is synchronous and never re-entered,
 * so the gate refills one of these for each decision instead of allocating it.
 */
export class ProposedOrder {
  signalId = '';
  symbol = '';
  probability = 0;
  /** Event time of the decision: the latest signal time the gate has seen. */
  now = 0;
  state: TradingState = 'halted';
  /** False when the signal id was already decided. */
  fresh = false;
  /** Undefined for a symbol never seen on any input. */
  entry: SymbolState | undefined = undefined;
  instrument: InstrumentLimits | undefined = undefined;
  /** Reference price; NaN when there is none. */
  price = Number.NaN;
  side: Side = 'buy';
  /** After the venue's rules: whole lots, or 0 below the venue's minimum. */
  quantity = 0;
  /** The venue's rules applied to a positive asked quantity; undefined without rules or when nothing was asked. */
  venue: VenueQuantity | undefined = undefined;
  position = 0;
  workingBuy = 0;
  workingSell = 0;
  /** How much of the position this side can take off, counting reducing orders already working. */
  reducible = 0;
  reduces = false;
  /** Price the order is expected to trade at. */
  orderPrice = Number.NaN;
  /** An entry's barrier exits (its bracket, or why it has none), with barrier exits on. */
  exits: EntryExits | undefined = undefined;
}

/** The gate's state that checks read beside the order. */
export interface GateView {
  readonly limits: RiskLimits;
  readonly restricted: ReadonlySet<string> | undefined;
  readonly book: PositionBook<SymbolRules>;
  readonly equity: EquityTriggers;
  readonly orderRate: Throttle | undefined;
  readonly shared: SharedResults;
}

export type PreTradeCheck = (order: Readonly<ProposedOrder>, gate: GateView, out: CheckRecorder) => void;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

function minuteOfDay(ts: number): number {
  return Math.floor((ts % DAY_MS) / MINUTE_MS);
}

function inSession(sessions: readonly TradingSession[], ts: number): boolean {
  const minute = minuteOfDay(ts);
  const weekday = (Math.floor(ts / DAY_MS) + 4) % 7; // 1970-01-01 was a Thursday
  for (const s of sessions) {
    if (minute >= s.openMinute && minute < s.closeMinute && s.days.includes(weekday)) return true;
  }
  return false;
}

const DUPLICATE_CHECK = sharedPair('DUPLICATE_SIGNAL');
const HALTED_CHECK = sharedPair('TRADING_HALTED');
const RESTRICTED_CHECK = sharedPair('RESTRICTED');
const INSTRUMENT_CHECK = sharedPair('INSTRUMENT_UNKNOWN');

/**
 * Check results that change only with the minute, a portfolio snapshot or a window count, shared by
 * the decisions in between.
 */
export class SharedResults {
  private sessionBucket = Number.NaN;
  private sessionResult: CheckResult | undefined;
  /** Minute of the UTC day of the cached session result. */
  sessionMinute = 0;
  dailyLoss: CheckResult | undefined;
  drawdown: SharedPair | undefined;
  orderRate: SharedPair | undefined;
  /** REPEATED_EXECUTION results by orders in the window, passed and failed. */
  private readonly repeatedPass = new Map<number, CheckResult>();
  private readonly repeatedFail = new Map<number, CheckResult>();

  /** A portfolio snapshot changed the equity the loss and drawdown results show. */
  equityChanged(): void {
    this.dailyLoss = undefined;
    this.drawdown = undefined;
  }

  /** OUTSIDE_TRADING_SESSION for `now`; the session and the minute change only with the minute. */
  session(sessions: readonly TradingSession[], now: number): CheckResult {
    const bucket = Math.floor(now / MINUTE_MS);
    if (bucket !== this.sessionBucket || this.sessionResult === undefined) {
      this.sessionBucket = bucket;
      this.sessionMinute = minuteOfDay(now);
      this.sessionResult = sharedCheck(
        'OUTSIDE_TRADING_SESSION',
        inSession(sessions, now),
        this.sessionMinute,
      );
    }
    return this.sessionResult;
  }

  /** The shared result of the repeated-execution check with `inWindow` orders, made on first use. */
  repeated(passed: boolean, inWindow: number, maxOrders: number): CheckResult {
    const results = passed ? this.repeatedPass : this.repeatedFail;
    let result = results.get(inWindow);
    if (result === undefined) {
      result = sharedCheck('REPEATED_EXECUTION', passed, inWindow, maxOrders);
      results.set(inWindow, result);
    }
    return result;
  }
}

function checkDuplicateSignal(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  if (out.shared(DUPLICATE_CHECK, o.fresh)) out.reason = `signal ${o.signalId} was already decided`;
}

function checkTradingHalted(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  if (out.shared(HALTED_CHECK, o.state !== 'halted')) out.reason = 'trading is halted';
}

function checkRestricted(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const symbol = o.symbol;
  if (g.restricted === undefined) out.notConfigured('RESTRICTED', 'restricted');
  else if (
    out.shared(
      RESTRICTED_CHECK,
      !(o.entry === undefined ? g.restricted.has(symbol) : o.entry.rules.restricted),
    )
  )
    out.reason = `${symbol} is on the restricted list`;
}

function checkInstrument(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  if (g.limits.instruments === undefined) out.notConfigured('INSTRUMENT_UNKNOWN', 'instruments');
  else if (out.shared(INSTRUMENT_CHECK, o.instrument !== undefined))
    out.reason = `${o.symbol} is not a configured instrument`;
}

function checkTradingSession(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const sessions = g.limits.tradingSessions;
  if (sessions === undefined) out.notConfigured('OUTSIDE_TRADING_SESSION', 'tradingSessions');
  else if (out.add(g.shared.session(sessions, o.now)))
    out.reason = `minute ${g.shared.sessionMinute} UTC is outside every trading session`;
}

function checkConfidence(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const minConfidence = g.limits.minConfidence;
  const probability = o.probability;
  if (minConfidence === undefined) out.notConfigured('MIN_CONFIDENCE', 'minConfidence');
  else if (out.check('MIN_CONFIDENCE', probability >= minConfidence, probability, minConfidence))
    out.reason = `probability ${probability} is below ${minConfidence}`;
}

function checkMarketData(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const maxAge = g.limits.maxMarketDataAgeMs;
  if (maxAge === undefined) out.notConfigured('STALE_MARKET_DATA', 'maxMarketDataAgeMs');
  else {
    const age = o.entry === undefined ? Number.POSITIVE_INFINITY : o.now - o.entry.lastDataTs;
    const current = age <= maxAge && o.price > 0;
    if (out.check('STALE_MARKET_DATA', current, age, maxAge))
      out.reason = o.price > 0 ? `market data is ${age} ms old` : `no price for ${o.symbol}`;
  }
}

function checkDailyLoss(_o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const maxDailyLoss = g.limits.maxDailyLoss;
  if (maxDailyLoss === undefined) out.notConfigured('DAILY_LOSS', 'maxDailyLoss');
  else {
    const loss = g.equity.dailyLoss;
    g.shared.dailyLoss ??= sharedCheck(
      'DAILY_LOSS',
      !Number.isNaN(loss) && loss < maxDailyLoss,
      loss,
      maxDailyLoss,
    );
    if (out.add(g.shared.dailyLoss))
      out.reason = Number.isNaN(loss)
        ? 'no portfolio snapshot yet'
        : `daily loss ${loss} reached ${maxDailyLoss}`;
  }
}

/** In drawdown only orders that reduce a position pass. */
function checkDrawdown(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const maxDrawdown = g.limits.maxDrawdown;
  if (maxDrawdown === undefined) out.notConfigured('DRAWDOWN', 'maxDrawdown');
  else {
    const drawdown = g.equity.drawdown;
    const known = !Number.isNaN(drawdown);
    g.shared.drawdown ??= sharedPair('DRAWDOWN', drawdown, maxDrawdown);
    if (out.shared(g.shared.drawdown, known && (drawdown < maxDrawdown || o.reduces)))
      out.reason = known
        ? `drawdown ${drawdown} reached ${maxDrawdown}: only reducing orders`
        : 'no portfolio snapshot yet';
  }
}

function checkReduceOnly(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  if (out.check('REDUCE_ONLY', o.state !== 'reducing' || o.reduces, o.quantity, Math.max(o.reducible, 0)))
    out.reason = `trading is reducing and this ${o.side} does not reduce the ${o.symbol} position`;
}

/** The venue's rules: skipped for a symbol without them and for a signal that asked for nothing. */
function checkVenueMinQuantity(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const v = o.venue;
  if (v === undefined || v.minQuantity === 0) return;
  if (out.check('BELOW_MIN_QUANTITY', v.denial !== 'BELOW_MIN_QUANTITY', v.lots, v.minQuantity))
    out.reason = `${o.symbol} quantity ${v.lots} in whole lots is below the venue's minimum ${v.minQuantity}`;
}

function checkVenueMinNotional(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const v = o.venue;
  if (v === undefined || v.minNotional === undefined) return;
  if (out.check('BELOW_MIN_NOTIONAL', v.notional >= v.minNotional, v.notional, v.minNotional))
    out.reason = `${o.symbol} notional ${v.notional} is below the venue's minimum ${v.minNotional}`;
}

function checkQuantity(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const instrument = o.instrument;
  if (instrument === undefined) return;
  const symbol = o.symbol;
  if (instrument.minQuantity === undefined)
    out.notConfigured('QUANTITY_OUT_OF_RANGE', `instruments.${symbol}.minQuantity`);
  else if (instrument.maxQuantity === undefined)
    out.notConfigured('QUANTITY_OUT_OF_RANGE', `instruments.${symbol}.maxQuantity`);
  else {
    const quantity = o.quantity;
    const inRange = quantity >= instrument.minQuantity && quantity <= instrument.maxQuantity;
    const limit = quantity < instrument.minQuantity ? instrument.minQuantity : instrument.maxQuantity;
    if (out.check('QUANTITY_OUT_OF_RANGE', inRange, quantity, limit))
      out.reason = `quantity ${quantity} is outside [${instrument.minQuantity}, ${instrument.maxQuantity}]`;
  }
}

function checkPriceCollar(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  if (!(o.price > 0)) return;
  const collarBps = g.limits.priceCollarBps;
  if (collarBps === undefined) out.notConfigured('PRICE_COLLAR', 'priceCollarBps');
  else {
    const distanceBps = (Math.abs(o.orderPrice - o.price) / o.price) * 10_000;
    if (out.check('PRICE_COLLAR', distanceBps <= collarBps, distanceBps, collarBps))
      out.reason = `order price ${o.orderPrice} is ${distanceBps.toFixed(1)} bps from reference ${o.price}`;
  }
}

/**
 * A bracket's stop-loss: within the collar of the reference price, like an order's price, and on the
 * far side of it (a long's sell stop below, a short's buy stop above): on the near side it would
 * trigger at once and close the entry as it opens. Skipped for an order without a bracket.
 */
function checkStopCollar(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const stop = o.exits?.bracket?.stop_loss.stop_price;
  if (stop === undefined || !(o.price > 0)) return;
  const collarBps = g.limits.priceCollarBps;
  if (collarBps === undefined) out.notConfigured('STOP_COLLAR', 'priceCollarBps');
  else {
    const distanceBps = (Math.abs(stop - o.price) / o.price) * 10_000;
    if (out.check('STOP_COLLAR', distanceBps <= collarBps, distanceBps, collarBps))
      out.reason = `stop price ${stop} is ${distanceBps.toFixed(1)} bps from reference ${o.price}`;
  }
}

function checkStopSide(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const stop = o.exits?.bracket?.stop_loss.stop_price;
  if (stop === undefined || !(o.price > 0)) return;
  // The stop-loss takes the other side of the entry.
  const sellStop = o.side === 'buy';
  if (out.check('STOP_WRONG_SIDE', sellStop ? stop < o.price : stop > o.price, stop, o.price))
    out.reason = `${sellStop ? 'sell' : 'buy'} stop ${stop} is ${sellStop ? 'at or above' : 'at or below'} the last price ${o.price}: it would trigger at once`;
}

/** A bracket's take-profit beyond the reference price (a long's above, a short's below), else it fills at once. */
function checkTakeProfitSide(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const takeProfit = o.exits?.bracket?.take_profit.limit_price;
  if (takeProfit === undefined || !(o.price > 0)) return;
  const long = o.side === 'buy';
  if (
    out.check(
      'TAKE_PROFIT_WRONG_SIDE',
      long ? takeProfit > o.price : takeProfit < o.price,
      takeProfit,
      o.price,
    )
  )
    out.reason = `take-profit ${takeProfit} of a ${long ? 'long' : 'short'} is ${long ? 'at or below' : 'at or above'} the last price ${o.price}: it would fill at once`;
}

function checkNotional(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  if (!(o.price > 0)) return;
  const maxNotional = g.limits.maxOrderNotional;
  if (maxNotional === undefined) out.notConfigured('MAX_NOTIONAL', 'maxOrderNotional');
  else {
    const notional = o.quantity * o.orderPrice;
    if (out.check('MAX_NOTIONAL', notional <= maxNotional, notional, maxNotional))
      out.reason = `notional ${notional} exceeds ${maxNotional}`;
  }
}

/** The position if every working order on the order's side filled, with the order and without. */
function checkPosition(o: Readonly<ProposedOrder>, _g: GateView, out: CheckRecorder): void {
  const instrument = o.instrument;
  if (instrument === undefined) return;
  const symbol = o.symbol;
  if (instrument.maxPosition === undefined)
    out.notConfigured('POSITION_LIMIT', `instruments.${symbol}.maxPosition`);
  else {
    const { position, workingBuy, workingSell, quantity } = o;
    const buy = o.side === 'buy';
    const before = Math.abs(buy ? position + workingBuy : position - workingSell);
    const after = Math.abs(buy ? position + workingBuy + quantity : position - workingSell - quantity);
    if (
      out.check(
        'POSITION_LIMIT',
        after <= instrument.maxPosition || after <= before,
        after,
        instrument.maxPosition,
      )
    )
      out.reason = `${symbol} position could reach ${after} with working orders`;
  }
}

/** Only the order's symbol's worst case changes: its contribution is recomputed with the order added. */
function checkGrossExposure(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const price = o.price;
  if (!(price > 0)) return;
  const maxGross = g.limits.maxGrossExposure;
  if (maxGross === undefined) out.notConfigured('GROSS_EXPOSURE', 'maxGrossExposure');
  else {
    const { gross } = g.book.exposure();
    const long = o.position + o.workingBuy;
    const short = o.position - o.workingSell;
    const contribution = Math.max(Math.abs(long), Math.abs(short)) * price;
    const newLong = o.side === 'buy' ? long + o.quantity : long;
    const newShort = o.side === 'sell' ? short - o.quantity : short;
    const grossAfter = gross - contribution + Math.max(Math.abs(newLong), Math.abs(newShort)) * price;
    if (out.check('GROSS_EXPOSURE', grossAfter <= maxGross || grossAfter <= gross, grossAfter, maxGross))
      out.reason = `gross exposure would reach ${grossAfter}`;
  }
}

function checkNetExposure(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const price = o.price;
  if (!(price > 0)) return;
  const maxNet = g.limits.maxNetExposure;
  if (maxNet === undefined) out.notConfigured('NET_EXPOSURE', 'maxNetExposure');
  else {
    const { netLong, netShort } = g.book.exposure();
    const signed = o.side === 'buy' ? o.quantity : -o.quantity;
    const netBefore = Math.max(Math.abs(netLong), Math.abs(netShort));
    const netAfter = Math.max(
      Math.abs(signed > 0 ? netLong + signed * price : netLong),
      Math.abs(signed < 0 ? netShort + signed * price : netShort),
    );
    if (out.check('NET_EXPOSURE', netAfter <= maxNet || netAfter <= netBefore, netAfter, maxNet))
      out.reason = `net exposure would reach ${netAfter}`;
  }
}

/** Same symbol, same side: skipped for a symbol never seen (it has no throttle yet). */
function checkRepeatedExecution(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  if (g.limits.repeatedExecution === undefined) out.notConfigured('REPEATED_EXECUTION', 'repeatedExecution');
  else if (o.entry !== undefined) {
    // Both throttles exist whenever repeatedExecution is configured.
    const window = o.side === 'buy' ? o.entry.rules.buys! : o.entry.rules.sells!;
    const passed = !window.isFull(o.now);
    const inWindow = window.inWindow(o.now);
    if (out.add(g.shared.repeated(passed, inWindow, window.maxOrders)))
      out.reason = `${window.maxOrders} ${o.side} orders for ${o.symbol} within ${window.windowMs} ms`;
  }
}

function checkOrderRate(o: Readonly<ProposedOrder>, g: GateView, out: CheckRecorder): void {
  const rate = g.orderRate;
  if (rate === undefined) out.notConfigured('ORDER_RATE', 'orderRate');
  else {
    g.shared.orderRate ??= sharedPair('ORDER_RATE', undefined, rate.maxOrders);
    if (out.shared(g.shared.orderRate, !rate.isFull(o.now)))
      out.reason = `${rate.maxOrders} orders within ${rate.windowMs} ms`;
  }
}

/** Every pre-trade check, in the order they run: a decision's code is its first failure's. */
export const preTradeChecks: readonly PreTradeCheck[] = [
  checkDuplicateSignal,
  checkTradingHalted,
  checkRestricted,
  checkInstrument,
  checkTradingSession,
  checkConfidence,
  checkMarketData,
  checkDailyLoss,
  checkDrawdown,
  checkReduceOnly,
  checkVenueMinQuantity,
  checkVenueMinNotional,
  checkQuantity,
  checkPriceCollar,
  checkStopCollar,
  checkStopSide,
  checkTakeProfitSide,
  checkNotional,
  checkPosition,
  checkGrossExposure,
  checkNetExposure,
  checkRepeatedExecution,
  checkOrderRate,
];
