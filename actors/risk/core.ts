// RiskGateCore: the per-signal work of the risk gate, synchronous and free of I/O. A binding feeds it
// market data, portfolio snapshots, order events and fills, asks it to evaluate each signal, and
// publishes the decision (always) and the intent (on pass). The trading state (active / reducing /
// halted) is owned by the xstate machine in machine.ts and pushed here as a plain value, so the hot
// path never touches xstate. Like NautilusTrader's RiskEngine, the gate keeps its own view of
// positions and working orders from execution reports instead of waiting for the portfolio.
//
// Per decision (bench/risk.bench.ts, risk_decisions_per_s): one map lookup finds the symbol's state
// and its limits; the book's exposure is summed again only after a price, position or working order
// changed; check results that carry nothing specific to the signal (duplicate, halted, restricted,
// instrument, session, daily loss, drawdown, throttles) are shared frozen objects; denial reasons are
// built only for the deciding check. Every check is still run and recorded with its values.
import type { Clock } from '../../core/clock.ts';
import type {
  Fill,
  OrderEvent,
  OrderIntent,
  PortfolioSnapshot,
  QuoteTick,
  RiskDecision,
  Signal,
  TradeTick,
} from '../../schemas/messages.ts';
import { isTerminal, orderIdFor } from '../execution/order.ts';
import type { InstrumentLimits, RiskLimits, TradingSession } from './limits.ts';
import { RecentIds } from './recent-ids.ts';
import type { Sizer } from './sizing.ts';

export type TradingState = RiskDecision['trading_state'];
export type Side = OrderIntent['side'];

/** A pre-trade check; its name is also the denial code when it fails. */
export type RiskCheck =
  | 'DUPLICATE_SIGNAL'
  | 'TRADING_HALTED'
  | 'RESTRICTED'
  | 'INSTRUMENT_UNKNOWN'
  | 'OUTSIDE_TRADING_SESSION'
  | 'MIN_CONFIDENCE'
  | 'STALE_MARKET_DATA'
  | 'DAILY_LOSS'
  | 'DRAWDOWN'
  | 'REDUCE_ONLY'
  | 'QUANTITY_OUT_OF_RANGE'
  | 'PRICE_COLLAR'
  | 'MAX_NOTIONAL'
  | 'POSITION_LIMIT'
  | 'GROSS_EXPOSURE'
  | 'NET_EXPOSURE'
  | 'REPEATED_EXECUTION'
  | 'ORDER_RATE';

export type DenialCode = RiskCheck | 'LIMIT_NOT_CONFIGURED';
export type DecisionCode = DenialCode | 'OK';
type CheckResult = RiskDecision['checks'][number];

/** An automatic switch of the trading state that the machine must apply. */
export interface RiskTrigger {
  type: 'DAILY_LOSS_BREACHED' | 'DRAWDOWN_BREACHED';
  value: number;
  limit: number;
}

export interface RiskResult {
  decision: RiskDecision;
  /** Present exactly when decision.outcome is 'pass'. */
  intent: OrderIntent | undefined;
  trigger: RiskTrigger | undefined;
}

export interface RiskGateCoreOptions {
  limits: RiskLimits;
  sizer: Sizer;
  /** Stamps ts_init of decisions and intents; decisions themselves use event time. */
  clock: Clock;
  /** Market orders, or limit orders priced `limitOffsetBps` through the reference price. */
  orderType?: OrderIntent['order_type'];
  limitOffsetBps?: number;
  timeInForce?: OrderIntent['time_in_force'];
  /** How many signal ids / fill ids are remembered for duplicate detection. */
  idMemory?: number;
  /** Fail closed until a binding says otherwise. */
  tradingState?: TradingState;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** The most checks one decision records (every check configured and reached). */
const MAX_CHECKS = 18;
const ALL_PASSED = 'all checks passed';

/**
 * A check result that carries nothing specific to one signal, shared by every decision that records
 * it. Frozen: a decision is an immutable record, and a shared entry must stay so.
 */
function sharedCheck(check: RiskCheck, passed: boolean, value?: number, limit?: number): CheckResult {
  return Object.freeze({ check, passed, value: value === undefined ? undefined : finite(value), limit });
}

interface SharedPair {
  readonly pass: CheckResult;
  readonly fail: CheckResult;
}

function sharedPair(check: RiskCheck, value?: number, limit?: number): SharedPair {
  return { pass: sharedCheck(check, true, value, limit), fail: sharedCheck(check, false, value, limit) };
}

const DUPLICATE_CHECK = sharedPair('DUPLICATE_SIGNAL');
const HALTED_CHECK = sharedPair('TRADING_HALTED');
const RESTRICTED_CHECK = sharedPair('RESTRICTED');
const INSTRUMENT_CHECK = sharedPair('INSTRUMENT_UNKNOWN');

/**
 * Passed orders in a sliding window of event time: the pass times still inside the window (at most
 * `maxOrders` of them), oldest first in a ring that grows only as far as orders actually come, so a
 * generous limit costs no memory up front. Event time never goes back, so times leave from the front.
 */
class RateWindow {
  private times = new Float64Array(16);
  private head = 0;
  private size = 0;

  constructor(
    readonly maxOrders: number,
    readonly windowMs: number,
  ) {}

  /** Whether `maxOrders` orders are already in the window (now − windowMs, now]. */
  isFull(now: number): boolean {
    return this.inWindow(now) >= this.maxOrders;
  }

  /** Orders in the window; those that fell out of it are forgotten. */
  inWindow(now: number): number {
    const since = now - this.windowMs;
    const mask = this.times.length - 1;
    while (this.size > 0 && !(this.times[this.head]! > since)) {
      this.head = (this.head + 1) & mask;
      this.size--;
    }
    return this.size;
  }

  record(now: number): void {
    if (this.size === this.maxOrders) {
      // Only the newest maxOrders can matter.
      this.head = (this.head + 1) & (this.times.length - 1);
      this.size--;
    }
    if (this.size === this.times.length) this.grow();
    this.times[(this.head + this.size) & (this.times.length - 1)] = now;
    this.size++;
  }

  private grow(): void {
    const grown = new Float64Array(this.times.length * 2);
    for (let n = 0; n < this.size; n++) grown[n] = this.times[(this.head + n) & (this.times.length - 1)]!;
    this.times = grown;
    this.head = 0;
  }
}

interface SymbolState {
  readonly symbol: string;
  /** Position in `symbolList` and in the exposure contribution arrays. */
  readonly index: number;
  /** The symbol's limits and restricted flag, read once from the limits (they do not change). */
  readonly instrument: InstrumentLimits | undefined;
  readonly restricted: boolean;
  position: number;
  /** Unfilled quantity of working buy / sell orders. */
  workingBuy: number;
  workingSell: number;
  lastTrade: number;
  bid: number;
  ask: number;
  lastDataTs: number;
  volatility: number;
  /** Same-side pass times, when repeatedExecution is configured. */
  readonly buys: RateWindow | undefined;
  readonly sells: RateWindow | undefined;
}

interface WorkingOrder {
  readonly state: SymbolState;
  readonly side: Side;
  /** Quantity that will ever fill: the order quantity, or what had filled when it ended. */
  quantity: number;
  filled: number;
}

function referencePrice(s: SymbolState): number {
  if (s.lastTrade > 0) return s.lastTrade;
  return s.bid > 0 && s.ask > 0 ? (s.bid + s.ask) / 2 : Number.NaN;
}

function finite(value: number): number | undefined {
  return Number.isFinite(value) ? value : undefined;
}

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

export class RiskGateCore {
  private state: TradingState;
  private readonly limits: RiskLimits;
  private readonly sizer: Sizer;
  private readonly clock: Clock;
  private readonly orderType: OrderIntent['order_type'];
  private readonly limitOffset: number;
  private readonly timeInForce: OrderIntent['time_in_force'];
  private readonly restricted: ReadonlySet<string> | undefined;
  private readonly symbols = new Map<string, SymbolState>();
  /** Same objects as `symbols`, for the exposure loop. */
  private readonly symbolList: SymbolState[] = [];
  private readonly working = new Map<string, WorkingOrder>();
  private readonly seenSignals: RecentIds;
  private readonly seenFills: RecentIds;
  private readonly orderRate: RateWindow | undefined;
  private lastEventTs = 0;
  private equity = Number.NaN;
  private peakEquity = Number.NaN;
  private dayStartEquity = Number.NaN;
  private equityDay = -1;

  // Exposure of the whole book. Each symbol's contribution (worst-case gross, long and short notional
  // at its reference price) is kept up to date when its price, position or working orders change; the
  // totals are summed again, in symbol order as always, only when a contribution changed.
  private grossBySymbol = new Float64Array(64);
  private longBySymbol = new Float64Array(64);
  private shortBySymbol = new Float64Array(64);
  private exposureStale = true;
  private gross = 0;
  private netLong = 0;
  private netShort = 0;

  // Check results that change only with the minute, a portfolio snapshot or a window count, shared by
  // the decisions in between.
  private sessionBucket = Number.NaN;
  private sessionMinute = 0;
  private sessionCheck: CheckResult | undefined;
  private dailyLossCheck: CheckResult | undefined;
  private drawdownCheck: SharedPair | undefined;
  private readonly orderRateCheck: SharedPair | undefined;
  /** REPEATED_EXECUTION results by orders in the window, passed and failed. */
  private readonly repeatedPass = new Map<number, CheckResult>();
  private readonly repeatedFail = new Map<number, CheckResult>();

  // The decision being built: its checks so far and the first failure. evaluate() is synchronous and
  // never re-entered, so one set of fields serves every decision.
  private checks: CheckResult[] = [];
  private checkCount = 0;
  private code: DecisionCode = 'OK';
  private reason = ALL_PASSED;

  constructor(options: RiskGateCoreOptions) {
    this.limits = options.limits;
    this.sizer = options.sizer;
    this.clock = options.clock;
    this.orderType = options.orderType ?? 'market';
    this.limitOffset = (options.limitOffsetBps ?? 0) / 10_000;
    this.timeInForce = options.timeInForce ?? (this.orderType === 'market' ? 'ioc' : 'day');
    this.state = options.tradingState ?? 'halted';
    this.restricted = options.limits.restricted && new Set(options.limits.restricted);
    this.seenSignals = new RecentIds(options.idMemory ?? 100_000);
    this.seenFills = new RecentIds(options.idMemory ?? 100_000);
    const rate = options.limits.orderRate;
    this.orderRate = rate && new RateWindow(rate.maxOrders, rate.windowMs);
    this.orderRateCheck = rate && sharedPair('ORDER_RATE', undefined, rate.maxOrders);
  }

  /** The shared result of the repeated-execution check with `inWindow` orders, made on first use. */
  private repeatedResult(passed: boolean, inWindow: number, maxOrders: number): CheckResult {
    const results = passed ? this.repeatedPass : this.repeatedFail;
    let result = results.get(inWindow);
    if (result === undefined) {
      result = sharedCheck('REPEATED_EXECUTION', passed, inWindow, maxOrders);
      results.set(inWindow, result);
    }
    return result;
  }

  get tradingState(): TradingState {
    return this.state;
  }

  /** Called by the state machine's subscription; strategies have no path here. */
  setTradingState(state: TradingState): void {
    this.state = state;
  }

  // ---- inputs fed back by the binding ----

  onTrade(tick: TradeTick): void {
    const s = this.symbolState(tick.symbol);
    s.lastTrade = tick.price;
    if (tick.ts_event > s.lastDataTs) s.lastDataTs = tick.ts_event;
    this.contributionChanged(s);
  }

  onQuote(quote: QuoteTick): void {
    const s = this.symbolState(quote.symbol);
    s.bid = quote.bid;
    s.ask = quote.ask;
    if (quote.ts_event > s.lastDataTs) s.lastDataTs = quote.ts_event;
    this.contributionChanged(s);
  }

  /** Annualised volatility from the feature stream, for volatility-targeted sizing. */
  setVolatility(symbol: string, volatility: number): void {
    this.symbolState(symbol).volatility = volatility;
  }

  /**
   * Equity for the daily-loss and drawdown limits. Returns the automatic trigger to send to the
   * machine when a limit is breached, so a loss halts trading before the next signal arrives.
   */
  onPortfolio(snapshot: PortfolioSnapshot): RiskTrigger | undefined {
    const day = Math.floor(snapshot.ts_event / DAY_MS);
    if (day !== this.equityDay) {
      // The day starts from the last equity of the previous day, so an overnight gap counts today.
      this.dayStartEquity = Number.isNaN(this.equity) ? snapshot.equity : this.equity;
      this.equityDay = day;
    }
    this.equity = snapshot.equity;
    if (!(this.peakEquity >= snapshot.equity)) this.peakEquity = snapshot.equity;
    this.dailyLossCheck = undefined;
    this.drawdownCheck = undefined;
    return this.dailyLossTrigger() ?? this.drawdownTrigger();
  }

  /** Applies a fill to positions and working orders; a fill id seen before is ignored. */
  onFill(fill: Fill): void {
    if (!this.seenFills.add(fill.id)) return;
    const s = this.symbolState(fill.symbol);
    s.position += fill.side === 'buy' ? fill.quantity : -fill.quantity;
    this.contributionChanged(s);
    const order = this.working.get(fill.order_id);
    if (order === undefined) return;
    const applied = Math.min(fill.quantity, order.quantity - order.filled);
    order.filled += applied;
    this.releaseWorking(order, applied);
    if (order.filled >= order.quantity) this.working.delete(fill.order_id);
  }

  /**
   * Ends a working order on a terminal status. Its quantity shrinks to what had filled, so fills
   * still in flight keep counting against the limits until they arrive.
   */
  onOrderEvent(event: OrderEvent): void {
    if (!isTerminal(event.status)) return;
    const order = this.working.get(event.order_id);
    if (order === undefined) return;
    const finalQuantity = Math.max(event.filled_quantity, order.filled);
    this.releaseWorking(order, order.quantity - finalQuantity);
    order.quantity = finalQuantity;
    if (order.filled >= order.quantity) this.working.delete(event.order_id);
  }

  /** Replaces positions with reconciled ones (after a restart, from the portfolio or the venue). */
  reconcile(positions: readonly { symbol: string; quantity: number }[]): void {
    for (const s of this.symbolList) s.position = 0;
    for (const p of positions) this.symbolState(p.symbol).position = p.quantity;
    for (const s of this.symbolList) this.contributionChanged(s);
  }

  /** Order ids still working, for "cancel all" on a halt. */
  workingOrderIds(): string[] {
    return [...this.working.keys()];
  }

  position(symbol: string): number {
    return this.symbols.get(symbol)?.position ?? 0;
  }

  /** Gross and net exposure at reference prices, working orders counted at their worst. */
  exposure(): { gross: number; netLong: number; netShort: number } {
    this.refreshExposure();
    return { gross: this.gross, netLong: this.netLong, netShort: this.netShort };
  }

  // ---- the decision ----

  evaluate(signal: Signal): RiskResult {
    if (signal.ts_event > this.lastEventTs) this.lastEventTs = signal.ts_event;
    const now = this.lastEventTs;
    const limits = this.limits;
    const symbol = signal.symbol;
    this.checks = new Array<CheckResult>(MAX_CHECKS);
    this.checkCount = 0;
    this.code = 'OK';
    this.reason = ALL_PASSED;

    const fresh = this.seenSignals.add(signal.id);
    if (this.shared(DUPLICATE_CHECK, fresh)) this.reason = `signal ${signal.id} was already decided`;
    if (this.shared(HALTED_CHECK, this.state !== 'halted')) this.reason = 'trading is halted';

    // One lookup finds the symbol's market state and its limits; a symbol never seen on any input
    // reads the limits directly.
    const s = this.symbols.get(symbol);
    if (this.restricted === undefined) this.notConfigured('RESTRICTED', 'restricted');
    else if (this.shared(RESTRICTED_CHECK, !(s === undefined ? this.restricted.has(symbol) : s.restricted)))
      this.reason = `${symbol} is on the restricted list`;

    const instrument = s === undefined ? limits.instruments?.[symbol] : s.instrument;
    if (limits.instruments === undefined) this.notConfigured('INSTRUMENT_UNKNOWN', 'instruments');
    else if (this.shared(INSTRUMENT_CHECK, instrument !== undefined))
      this.reason = `${symbol} is not a configured instrument`;

    if (limits.tradingSessions === undefined)
      this.notConfigured('OUTSIDE_TRADING_SESSION', 'tradingSessions');
    else if (this.add(this.sessionResult(limits.tradingSessions, now)))
      this.reason = `minute ${this.sessionMinute} UTC is outside every trading session`;

    if (limits.minConfidence === undefined) this.notConfigured('MIN_CONFIDENCE', 'minConfidence');
    else if (
      this.check(
        'MIN_CONFIDENCE',
        signal.probability >= limits.minConfidence,
        signal.probability,
        limits.minConfidence,
      )
    )
      this.reason = `probability ${signal.probability} is below ${limits.minConfidence}`;

    const price = s === undefined ? Number.NaN : referencePrice(s);
    if (limits.maxMarketDataAgeMs === undefined)
      this.notConfigured('STALE_MARKET_DATA', 'maxMarketDataAgeMs');
    else {
      const age = s === undefined ? Number.POSITIVE_INFINITY : now - s.lastDataTs;
      const current = age <= limits.maxMarketDataAgeMs && price > 0;
      if (this.check('STALE_MARKET_DATA', current, age, limits.maxMarketDataAgeMs))
        this.reason = price > 0 ? `market data is ${age} ms old` : `no price for ${symbol}`;
    }

    let trigger: RiskTrigger | undefined;
    if (limits.maxDailyLoss === undefined) this.notConfigured('DAILY_LOSS', 'maxDailyLoss');
    else {
      const maxDailyLoss = limits.maxDailyLoss;
      const loss = this.dayStartEquity - this.equity;
      this.dailyLossCheck ??= sharedCheck(
        'DAILY_LOSS',
        !Number.isNaN(loss) && loss < maxDailyLoss,
        loss,
        maxDailyLoss,
      );
      if (this.add(this.dailyLossCheck))
        this.reason = Number.isNaN(loss)
          ? 'no portfolio snapshot yet'
          : `daily loss ${loss} reached ${maxDailyLoss}`;
      trigger = this.dailyLossTrigger();
    }

    const side: Side = signal.direction < 0 ? 'sell' : 'buy';
    const sized =
      signal.direction === 0 || !(price > 0)
        ? 0
        : this.sizer.size({ signal, price, equity: this.equity, volatility: s?.volatility ?? Number.NaN });
    const position = s === undefined ? 0 : s.position;
    const workingBuy = s === undefined ? 0 : s.workingBuy;
    const workingSell = s === undefined ? 0 : s.workingSell;
    // How much of the position this side can take off, counting reducing orders already working.
    const reducible = side === 'sell' ? position - workingSell : -(position + workingBuy);
    const reduces = sized > 0 && reducible > 0;
    const reducing = this.state === 'reducing';
    const quantity = reducing && reduces ? Math.min(sized, reducible) : sized;

    if (limits.maxDrawdown === undefined) this.notConfigured('DRAWDOWN', 'maxDrawdown');
    else {
      const maxDrawdown = limits.maxDrawdown;
      const drawdown = (this.peakEquity - this.equity) / this.peakEquity;
      const known = !Number.isNaN(drawdown);
      this.drawdownCheck ??= sharedPair('DRAWDOWN', drawdown, maxDrawdown);
      const within = known && (drawdown < maxDrawdown || reduces);
      if (this.shared(this.drawdownCheck, within))
        this.reason = known
          ? `drawdown ${drawdown} reached ${maxDrawdown}: only reducing orders`
          : 'no portfolio snapshot yet';
      trigger ??= this.drawdownTrigger();
    }

    if (this.check('REDUCE_ONLY', !reducing || reduces, quantity, Math.max(reducible, 0)))
      this.reason = `trading is reducing and this ${side} does not reduce the ${symbol} position`;

    if (instrument !== undefined) {
      if (instrument.minQuantity === undefined)
        this.notConfigured('QUANTITY_OUT_OF_RANGE', `instruments.${symbol}.minQuantity`);
      else if (instrument.maxQuantity === undefined)
        this.notConfigured('QUANTITY_OUT_OF_RANGE', `instruments.${symbol}.maxQuantity`);
      else {
        const inRange = quantity >= instrument.minQuantity && quantity <= instrument.maxQuantity;
        const limit = quantity < instrument.minQuantity ? instrument.minQuantity : instrument.maxQuantity;
        if (this.check('QUANTITY_OUT_OF_RANGE', inRange, quantity, limit))
          this.reason = `quantity ${quantity} is outside [${instrument.minQuantity}, ${instrument.maxQuantity}]`;
      }
    }

    const orderPrice = this.orderPrice(s, side, price);
    if (price > 0) {
      if (limits.priceCollarBps === undefined) this.notConfigured('PRICE_COLLAR', 'priceCollarBps');
      else {
        const distanceBps = (Math.abs(orderPrice - price) / price) * 10_000;
        if (
          this.check('PRICE_COLLAR', distanceBps <= limits.priceCollarBps, distanceBps, limits.priceCollarBps)
        )
          this.reason = `order price ${orderPrice} is ${distanceBps.toFixed(1)} bps from reference ${price}`;
      }
      if (limits.maxOrderNotional === undefined) this.notConfigured('MAX_NOTIONAL', 'maxOrderNotional');
      else {
        const notional = quantity * orderPrice;
        if (
          this.check('MAX_NOTIONAL', notional <= limits.maxOrderNotional, notional, limits.maxOrderNotional)
        )
          this.reason = `notional ${notional} exceeds ${limits.maxOrderNotional}`;
      }
    }

    if (instrument !== undefined) {
      if (instrument.maxPosition === undefined)
        this.notConfigured('POSITION_LIMIT', `instruments.${symbol}.maxPosition`);
      else {
        const before = Math.abs(side === 'buy' ? position + workingBuy : position - workingSell);
        const after = Math.abs(
          side === 'buy' ? position + workingBuy + quantity : position - workingSell - quantity,
        );
        if (
          this.check(
            'POSITION_LIMIT',
            after <= instrument.maxPosition || after <= before,
            after,
            instrument.maxPosition,
          )
        )
          this.reason = `${symbol} position could reach ${after} with working orders`;
      }
    }

    if (price > 0) this.checkExposure(side, quantity, price, position, workingBuy, workingSell);

    if (limits.repeatedExecution === undefined) this.notConfigured('REPEATED_EXECUTION', 'repeatedExecution');
    else if (s !== undefined) {
      const window = side === 'buy' ? s.buys! : s.sells!;
      const passed = !window.isFull(now);
      const inWindow = window.inWindow(now);
      if (this.add(this.repeatedResult(passed, inWindow, window.maxOrders)))
        this.reason = `${window.maxOrders} ${side} orders for ${symbol} within ${window.windowMs} ms`;
    }

    if (this.orderRate === undefined) this.notConfigured('ORDER_RATE', 'orderRate');
    else {
      const rate = this.orderRate;
      if (this.shared(this.orderRateCheck!, !rate.isFull(now)))
        this.reason = `${rate.maxOrders} orders within ${rate.windowMs} ms`;
    }

    const checks = this.checks;
    if (this.checkCount < MAX_CHECKS) checks.length = this.checkCount;
    const tsInit = this.clock.now();
    const intent =
      this.code === 'OK' && s !== undefined
        ? this.accept(signal, s, side, quantity, orderPrice, now, tsInit)
        : undefined;
    const decision: RiskDecision = {
      schema: 'risk_decision.v1',
      id: fresh ? `${signal.id}:decision` : `${signal.id}:decision:duplicate`,
      ts_event: signal.ts_event,
      ts_init: tsInit,
      strategy: signal.strategy,
      symbol,
      outcome: intent ? 'pass' : 'deny',
      code: this.code,
      reason: this.reason,
      trading_state: this.state,
      checks,
      signal_id: signal.id,
      intent_id: intent?.id,
    };
    this.checks = [];
    return { decision, intent, trigger };
  }

  // ---- helpers ----

  /** Appends a check result; true when it is the decisive failure, so only then is a reason built. */
  private add(result: CheckResult): boolean {
    this.checks[this.checkCount++] = result;
    if (result.passed || this.code !== 'OK') return false;
    this.code = result.check as RiskCheck;
    return true;
  }

  /** A check without per-signal values: its shared pass or fail result. */
  private shared(pair: SharedPair, passed: boolean): boolean {
    return this.add(passed ? pair.pass : pair.fail);
  }

  /** A check with the values it compared. */
  private check(name: RiskCheck, passed: boolean, value: number, limit: number): boolean {
    return this.add({ check: name, passed, value: finite(value), limit });
  }

  private notConfigured(name: RiskCheck, field: string): void {
    this.checks[this.checkCount++] = { check: name, passed: false };
    if (this.code === 'OK') {
      this.code = 'LIMIT_NOT_CONFIGURED';
      this.reason = `risk limit ${field} is not configured (check ${name}); every order is denied until it is set`;
    }
  }

  /** OUTSIDE_TRADING_SESSION for `now`; the session and the minute change only with the minute. */
  private sessionResult(sessions: readonly TradingSession[], now: number): CheckResult {
    const bucket = Math.floor(now / MINUTE_MS);
    if (bucket !== this.sessionBucket || this.sessionCheck === undefined) {
      this.sessionBucket = bucket;
      this.sessionMinute = minuteOfDay(now);
      this.sessionCheck = sharedCheck(
        'OUTSIDE_TRADING_SESSION',
        inSession(sessions, now),
        this.sessionMinute,
      );
    }
    return this.sessionCheck;
  }

  /** Recomputes one symbol's exposure contribution (zero while it has no position nor working order). */
  private contributionChanged(s: SymbolState): void {
    const i = s.index;
    if (s.position === 0 && s.workingBuy === 0 && s.workingSell === 0) {
      this.grossBySymbol[i] = 0;
      this.longBySymbol[i] = 0;
      this.shortBySymbol[i] = 0;
    } else {
      const price = referencePrice(s);
      const long = s.position + s.workingBuy;
      const short = s.position - s.workingSell;
      this.grossBySymbol[i] = Math.max(Math.abs(long), Math.abs(short)) * price;
      this.longBySymbol[i] = long * price;
      this.shortBySymbol[i] = short * price;
    }
    this.exposureStale = true;
  }

  /**
   * The totals, summed in symbol order. A symbol without position or working orders adds an exact
   * zero, which leaves a sum unchanged (a sum that starts at +0 is never −0), so the totals are the
   * same numbers a loop skipping those symbols gives.
   */
  private refreshExposure(): void {
    if (!this.exposureStale) return;
    const grossBySymbol = this.grossBySymbol;
    const longBySymbol = this.longBySymbol;
    const shortBySymbol = this.shortBySymbol;
    let gross = 0;
    let netLong = 0;
    let netShort = 0;
    for (let i = 0; i < this.symbolList.length; i++) {
      gross += grossBySymbol[i]!;
      netLong += longBySymbol[i]!;
      netShort += shortBySymbol[i]!;
    }
    this.gross = gross;
    this.netLong = netLong;
    this.netShort = netShort;
    this.exposureStale = false;
  }

  private checkExposure(
    side: Side,
    quantity: number,
    price: number,
    position: number,
    workingBuy: number,
    workingSell: number,
  ): void {
    this.refreshExposure();
    const { gross, netLong, netShort } = this;
    const signed = side === 'buy' ? quantity : -quantity;
    // Only this symbol's worst case changes: recompute its contribution with the order added.
    const long = position + workingBuy;
    const short = position - workingSell;
    const contribution = Math.max(Math.abs(long), Math.abs(short)) * price;
    const newLong = side === 'buy' ? long + quantity : long;
    const newShort = side === 'sell' ? short - quantity : short;
    const grossAfter = gross - contribution + Math.max(Math.abs(newLong), Math.abs(newShort)) * price;
    const netBefore = Math.max(Math.abs(netLong), Math.abs(netShort));
    const netAfter = Math.max(
      Math.abs(signed > 0 ? netLong + signed * price : netLong),
      Math.abs(signed < 0 ? netShort + signed * price : netShort),
    );
    const limits = this.limits;
    if (limits.maxGrossExposure === undefined) this.notConfigured('GROSS_EXPOSURE', 'maxGrossExposure');
    else if (
      this.check(
        'GROSS_EXPOSURE',
        grossAfter <= limits.maxGrossExposure || grossAfter <= gross,
        grossAfter,
        limits.maxGrossExposure,
      )
    )
      this.reason = `gross exposure would reach ${grossAfter}`;
    if (limits.maxNetExposure === undefined) this.notConfigured('NET_EXPOSURE', 'maxNetExposure');
    else if (
      this.check(
        'NET_EXPOSURE',
        netAfter <= limits.maxNetExposure || netAfter <= netBefore,
        netAfter,
        limits.maxNetExposure,
      )
    )
      this.reason = `net exposure would reach ${netAfter}`;
  }

  /** Price the order is expected to trade at: the far touch for market orders, the limit otherwise. */
  private orderPrice(s: SymbolState | undefined, side: Side, reference: number): number {
    if (this.orderType === 'limit')
      return reference * (side === 'buy' ? 1 + this.limitOffset : 1 - this.limitOffset);
    const touch = side === 'buy' ? s?.ask : s?.bid;
    return touch !== undefined && touch > 0 ? touch : reference;
  }

  private accept(
    signal: Signal,
    s: SymbolState,
    side: Side,
    quantity: number,
    orderPrice: number,
    now: number,
    tsInit: number,
  ): OrderIntent {
    const intentId = `${signal.id}:intent`;
    this.orderRate?.record(now);
    (side === 'buy' ? s.buys : s.sells)?.record(now);
    if (side === 'buy') s.workingBuy += quantity;
    else s.workingSell += quantity;
    this.contributionChanged(s);
    this.working.set(orderIdFor(intentId), { state: s, side, quantity, filled: 0 });
    return {
      schema: 'order_intent.v1',
      id: intentId,
      ts_event: signal.ts_event,
      ts_init: tsInit,
      strategy: signal.strategy,
      symbol: signal.symbol,
      side,
      quantity,
      order_type: this.orderType,
      limit_price: this.orderType === 'limit' ? orderPrice : undefined,
      time_in_force: this.timeInForce,
      reduce_only: this.state === 'reducing',
      signal_id: signal.id,
    };
  }

  private releaseWorking(order: WorkingOrder, quantity: number): void {
    if (order.side === 'buy') order.state.workingBuy -= quantity;
    else order.state.workingSell -= quantity;
    this.contributionChanged(order.state);
  }

  private dailyLossTrigger(): RiskTrigger | undefined {
    const limit = this.limits.maxDailyLoss;
    const loss = this.dayStartEquity - this.equity;
    if (limit === undefined || !(loss >= limit) || this.state === 'halted') return undefined;
    return { type: 'DAILY_LOSS_BREACHED', value: loss, limit };
  }

  private drawdownTrigger(): RiskTrigger | undefined {
    const limit = this.limits.maxDrawdown;
    const drawdown = (this.peakEquity - this.equity) / this.peakEquity;
    if (limit === undefined || !(drawdown >= limit) || this.state !== 'active') return undefined;
    return { type: 'DRAWDOWN_BREACHED', value: drawdown, limit };
  }

  private symbolState(symbol: string): SymbolState {
    let s = this.symbols.get(symbol);
    if (s === undefined) {
      const repeated = this.limits.repeatedExecution;
      s = {
        symbol,
        index: this.symbolList.length,
        instrument: this.limits.instruments?.[symbol],
        restricted: this.restricted?.has(symbol) ?? false,
        position: 0,
        workingBuy: 0,
        workingSell: 0,
        lastTrade: Number.NaN,
        bid: Number.NaN,
        ask: Number.NaN,
        lastDataTs: Number.NEGATIVE_INFINITY,
        volatility: Number.NaN,
        buys: repeated && new RateWindow(repeated.maxOrders, repeated.windowMs),
        sells: repeated && new RateWindow(repeated.maxOrders, repeated.windowMs),
      };
      this.symbols.set(symbol, s);
      this.symbolList.push(s);
      if (s.index >= this.grossBySymbol.length) {
        const grow = (from: Float64Array) => {
          const to = new Float64Array(from.length * 2);
          to.set(from);
          return to;
        };
        this.grossBySymbol = grow(this.grossBySymbol);
        this.longBySymbol = grow(this.longBySymbol);
        this.shortBySymbol = grow(this.shortBySymbol);
      }
    }
    return s;
  }
}
