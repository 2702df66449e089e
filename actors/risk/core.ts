// RiskGateCore: the per-signal work of the risk gate, synchronous and free of I/O. A binding feeds it
// market data, portfolio snapshots, order events and fills, asks it to evaluate each signal, and
// publishes the decision (always) and the intent (on pass). The trading state (active / reducing /
// halted) is owned by the xstate machine in machine.ts and pushed here as a plain value, so the hot
// path never touches xstate. Like NautilusTrader's RiskEngine, the gate keeps its own view of
// positions and working orders from execution reports instead of waiting for the portfolio.
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
import type { RiskLimits, TradingSession } from './limits.ts';
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

/** Passed orders in a sliding window of event time: a ring of the last `maxOrders` pass times. */
class RateWindow {
  private readonly times: Float64Array;
  private head = 0;
  private count = 0;

  constructor(
    readonly maxOrders: number,
    readonly windowMs: number,
  ) {
    this.times = new Float64Array(maxOrders);
  }

  /** Orders already in the window (now − windowMs, now]; the oldest of the last maxOrders decides. */
  isFull(now: number): boolean {
    return this.count === this.maxOrders && this.times[this.head]! > now - this.windowMs;
  }

  inWindow(now: number): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.times[i]! > now - this.windowMs) n++;
    return n;
  }

  record(now: number): void {
    this.times[this.head] = now;
    this.head = (this.head + 1) % this.maxOrders;
    if (this.count < this.maxOrders) this.count++;
  }
}

interface SymbolState {
  readonly symbol: string;
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

/** Mutable audit of one evaluation; the first failing check names the outcome. */
interface Audit {
  checks: CheckResult[];
  code: DecisionCode;
  reason: string;
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
  }

  onQuote(quote: QuoteTick): void {
    const s = this.symbolState(quote.symbol);
    s.bid = quote.bid;
    s.ask = quote.ask;
    if (quote.ts_event > s.lastDataTs) s.lastDataTs = quote.ts_event;
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
    return this.dailyLossTrigger() ?? this.drawdownTrigger();
  }

  /** Applies a fill to positions and working orders; a fill id seen before is ignored. */
  onFill(fill: Fill): void {
    if (!this.seenFills.add(fill.id)) return;
    const s = this.symbolState(fill.symbol);
    s.position += fill.side === 'buy' ? fill.quantity : -fill.quantity;
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
    let gross = 0;
    let netLong = 0;
    let netShort = 0;
    for (const s of this.symbolList) {
      if (s.position === 0 && s.workingBuy === 0 && s.workingSell === 0) continue;
      const price = referencePrice(s);
      const long = s.position + s.workingBuy;
      const short = s.position - s.workingSell;
      gross += Math.max(Math.abs(long), Math.abs(short)) * price;
      netLong += long * price;
      netShort += short * price;
    }
    return { gross, netLong, netShort };
  }

  // ---- the decision ----

  evaluate(signal: Signal): RiskResult {
    if (signal.ts_event > this.lastEventTs) this.lastEventTs = signal.ts_event;
    const now = this.lastEventTs;
    const limits = this.limits;
    const audit: Audit = { checks: [], code: 'OK', reason: 'all checks passed' };
    const fresh = this.seenSignals.add(signal.id);
    if (this.check(audit, 'DUPLICATE_SIGNAL', fresh, undefined, undefined))
      audit.reason = `signal ${signal.id} was already decided`;
    if (this.check(audit, 'TRADING_HALTED', this.state !== 'halted', undefined, undefined))
      audit.reason = 'trading is halted';

    if (this.restricted === undefined) this.notConfigured(audit, 'RESTRICTED', 'restricted');
    else if (this.check(audit, 'RESTRICTED', !this.restricted.has(signal.symbol), undefined, undefined))
      audit.reason = `${signal.symbol} is on the restricted list`;

    const instrument = limits.instruments?.[signal.symbol];
    if (limits.instruments === undefined) this.notConfigured(audit, 'INSTRUMENT_UNKNOWN', 'instruments');
    else if (this.check(audit, 'INSTRUMENT_UNKNOWN', instrument !== undefined, undefined, undefined))
      audit.reason = `${signal.symbol} is not a configured instrument`;

    if (limits.tradingSessions === undefined)
      this.notConfigured(audit, 'OUTSIDE_TRADING_SESSION', 'tradingSessions');
    else {
      const minute = minuteOfDay(now);
      if (
        this.check(
          audit,
          'OUTSIDE_TRADING_SESSION',
          inSession(limits.tradingSessions, now),
          minute,
          undefined,
        )
      )
        audit.reason = `minute ${minute} UTC is outside every trading session`;
    }

    if (limits.minConfidence === undefined) this.notConfigured(audit, 'MIN_CONFIDENCE', 'minConfidence');
    else if (
      this.check(
        audit,
        'MIN_CONFIDENCE',
        signal.probability >= limits.minConfidence,
        signal.probability,
        limits.minConfidence,
      )
    )
      audit.reason = `probability ${signal.probability} is below ${limits.minConfidence}`;

    const s = this.symbols.get(signal.symbol);
    const price = s ? referencePrice(s) : Number.NaN;
    if (limits.maxMarketDataAgeMs === undefined)
      this.notConfigured(audit, 'STALE_MARKET_DATA', 'maxMarketDataAgeMs');
    else {
      const age = s ? now - s.lastDataTs : Number.POSITIVE_INFINITY;
      const current = age <= limits.maxMarketDataAgeMs && price > 0;
      if (this.check(audit, 'STALE_MARKET_DATA', current, age, limits.maxMarketDataAgeMs))
        audit.reason = price > 0 ? `market data is ${age} ms old` : `no price for ${signal.symbol}`;
    }

    let trigger: RiskTrigger | undefined;
    if (limits.maxDailyLoss === undefined) this.notConfigured(audit, 'DAILY_LOSS', 'maxDailyLoss');
    else {
      const loss = this.dayStartEquity - this.equity;
      const known = !Number.isNaN(loss);
      if (this.check(audit, 'DAILY_LOSS', known && loss < limits.maxDailyLoss, loss, limits.maxDailyLoss))
        audit.reason = known
          ? `daily loss ${loss} reached ${limits.maxDailyLoss}`
          : 'no portfolio snapshot yet';
      trigger = this.dailyLossTrigger();
    }

    const side: Side = signal.direction < 0 ? 'sell' : 'buy';
    const sized =
      signal.direction === 0 || !(price > 0)
        ? 0
        : this.sizer.size({ signal, price, equity: this.equity, volatility: s?.volatility ?? Number.NaN });
    const position = s?.position ?? 0;
    const workingBuy = s?.workingBuy ?? 0;
    const workingSell = s?.workingSell ?? 0;
    // How much of the position this side can take off, counting reducing orders already working.
    const reducible = side === 'sell' ? position - workingSell : -(position + workingBuy);
    const reduces = sized > 0 && reducible > 0;
    const reducing = this.state === 'reducing';
    const quantity = reducing && reduces ? Math.min(sized, reducible) : sized;

    if (limits.maxDrawdown === undefined) this.notConfigured(audit, 'DRAWDOWN', 'maxDrawdown');
    else {
      const drawdown = (this.peakEquity - this.equity) / this.peakEquity;
      const known = !Number.isNaN(drawdown);
      const within = known && (drawdown < limits.maxDrawdown || reduces);
      if (this.check(audit, 'DRAWDOWN', within, drawdown, limits.maxDrawdown))
        audit.reason = known
          ? `drawdown ${drawdown} reached ${limits.maxDrawdown}: only reducing orders`
          : 'no portfolio snapshot yet';
      trigger ??= this.drawdownTrigger();
    }

    if (this.check(audit, 'REDUCE_ONLY', !reducing || reduces, quantity, Math.max(reducible, 0)))
      audit.reason = `trading is reducing and this ${side} does not reduce the ${signal.symbol} position`;

    if (instrument !== undefined) {
      if (instrument.minQuantity === undefined)
        this.notConfigured(audit, 'QUANTITY_OUT_OF_RANGE', `instruments.${signal.symbol}.minQuantity`);
      else if (instrument.maxQuantity === undefined)
        this.notConfigured(audit, 'QUANTITY_OUT_OF_RANGE', `instruments.${signal.symbol}.maxQuantity`);
      else {
        const inRange = quantity >= instrument.minQuantity && quantity <= instrument.maxQuantity;
        const limit = quantity < instrument.minQuantity ? instrument.minQuantity : instrument.maxQuantity;
        if (this.check(audit, 'QUANTITY_OUT_OF_RANGE', inRange, quantity, limit))
          audit.reason = `quantity ${quantity} is outside [${instrument.minQuantity}, ${instrument.maxQuantity}]`;
      }
    }

    const orderPrice = this.orderPrice(s, side, price);
    if (price > 0) {
      if (limits.priceCollarBps === undefined) this.notConfigured(audit, 'PRICE_COLLAR', 'priceCollarBps');
      else {
        const distanceBps = (Math.abs(orderPrice - price) / price) * 10_000;
        if (
          this.check(
            audit,
            'PRICE_COLLAR',
            distanceBps <= limits.priceCollarBps,
            distanceBps,
            limits.priceCollarBps,
          )
        )
          audit.reason = `order price ${orderPrice} is ${distanceBps.toFixed(1)} bps from reference ${price}`;
      }
      if (limits.maxOrderNotional === undefined)
        this.notConfigured(audit, 'MAX_NOTIONAL', 'maxOrderNotional');
      else {
        const notional = quantity * orderPrice;
        if (
          this.check(
            audit,
            'MAX_NOTIONAL',
            notional <= limits.maxOrderNotional,
            notional,
            limits.maxOrderNotional,
          )
        )
          audit.reason = `notional ${notional} exceeds ${limits.maxOrderNotional}`;
      }
    }

    if (instrument !== undefined) {
      if (instrument.maxPosition === undefined)
        this.notConfigured(audit, 'POSITION_LIMIT', `instruments.${signal.symbol}.maxPosition`);
      else {
        const before = Math.abs(side === 'buy' ? position + workingBuy : position - workingSell);
        const after = Math.abs(
          side === 'buy' ? position + workingBuy + quantity : position - workingSell - quantity,
        );
        if (
          this.check(
            audit,
            'POSITION_LIMIT',
            after <= instrument.maxPosition || after <= before,
            after,
            instrument.maxPosition,
          )
        )
          audit.reason = `${signal.symbol} position could reach ${after} with working orders`;
      }
    }

    if (price > 0) this.checkExposure(audit, s, side, quantity, price);

    if (limits.repeatedExecution === undefined)
      this.notConfigured(audit, 'REPEATED_EXECUTION', 'repeatedExecution');
    else if (s !== undefined) {
      const window = side === 'buy' ? s.buys! : s.sells!;
      if (
        this.check(audit, 'REPEATED_EXECUTION', !window.isFull(now), window.inWindow(now), window.maxOrders)
      )
        audit.reason = `${window.maxOrders} ${side} orders for ${signal.symbol} within ${window.windowMs} ms`;
    }

    if (this.orderRate === undefined) this.notConfigured(audit, 'ORDER_RATE', 'orderRate');
    else {
      const rate = this.orderRate;
      if (this.check(audit, 'ORDER_RATE', !rate.isFull(now), undefined, rate.maxOrders))
        audit.reason = `${rate.maxOrders} orders within ${rate.windowMs} ms`;
    }

    const pass = audit.code === 'OK';
    const intent =
      pass && s !== undefined ? this.accept(signal, s, side, quantity, orderPrice, now) : undefined;
    const decision: RiskDecision = {
      schema: 'risk_decision.v1',
      id: fresh ? `${signal.id}:decision` : `${signal.id}:decision:duplicate`,
      ts_event: signal.ts_event,
      ts_init: this.clock.now(),
      strategy: signal.strategy,
      symbol: signal.symbol,
      outcome: intent ? 'pass' : 'deny',
      code: audit.code,
      reason: audit.reason,
      trading_state: this.state,
      checks: audit.checks,
      signal_id: signal.id,
      intent_id: intent?.id,
    };
    return { decision, intent, trigger };
  }

  // ---- helpers ----

  /** Records a check; true when it is the decisive failure, so only then is a reason string built. */
  private check(
    audit: Audit,
    name: RiskCheck,
    passed: boolean,
    value: number | undefined,
    limit: number | undefined,
  ): boolean {
    audit.checks.push({ check: name, passed, value: value === undefined ? undefined : finite(value), limit });
    if (passed || audit.code !== 'OK') return false;
    audit.code = name;
    return true;
  }

  private notConfigured(audit: Audit, name: RiskCheck, field: string): void {
    audit.checks.push({ check: name, passed: false });
    if (audit.code === 'OK') {
      audit.code = 'LIMIT_NOT_CONFIGURED';
      audit.reason = `risk limit ${field} is not configured (check ${name}); every order is denied until it is set`;
    }
  }

  private checkExposure(
    audit: Audit,
    s: SymbolState | undefined,
    side: Side,
    quantity: number,
    price: number,
  ): void {
    const { gross, netLong, netShort } = this.exposure();
    const signed = side === 'buy' ? quantity : -quantity;
    // Only this symbol's worst case changes: recompute its contribution with the order added.
    const position = s?.position ?? 0;
    const long = position + (s?.workingBuy ?? 0);
    const short = position - (s?.workingSell ?? 0);
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
    if (limits.maxGrossExposure === undefined)
      this.notConfigured(audit, 'GROSS_EXPOSURE', 'maxGrossExposure');
    else if (
      this.check(
        audit,
        'GROSS_EXPOSURE',
        grossAfter <= limits.maxGrossExposure || grossAfter <= gross,
        grossAfter,
        limits.maxGrossExposure,
      )
    )
      audit.reason = `gross exposure would reach ${grossAfter}`;
    if (limits.maxNetExposure === undefined) this.notConfigured(audit, 'NET_EXPOSURE', 'maxNetExposure');
    else if (
      this.check(
        audit,
        'NET_EXPOSURE',
        netAfter <= limits.maxNetExposure || netAfter <= netBefore,
        netAfter,
        limits.maxNetExposure,
      )
    )
      audit.reason = `net exposure would reach ${netAfter}`;
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
  ): OrderIntent {
    const intentId = `${signal.id}:intent`;
    this.orderRate?.record(now);
    (side === 'buy' ? s.buys : s.sells)?.record(now);
    if (side === 'buy') s.workingBuy += quantity;
    else s.workingSell += quantity;
    this.working.set(orderIdFor(intentId), { state: s, side, quantity, filled: 0 });
    return {
      schema: 'order_intent.v1',
      id: intentId,
      ts_event: signal.ts_event,
      ts_init: this.clock.now(),
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
    }
    return s;
  }
}
