// RiskGateCore: the per-signal work of the risk gate, synchronous and free of I/O. A binding feeds it
// market data, portfolio snapshots, order events and fills, asks it to evaluate each signal, and
// publishes the decision (always) and the intent (on pass). The trading state (active / reducing /
// halted) is owned by the xstate machine in machine.ts and pushed here as a plain value, so the hot
// path never touches xstate. Like NautilusTrader's RiskEngine, the gate keeps its own view of
// positions and working orders from execution reports instead of waiting for the portfolio.
//
// The pieces: the book (book.ts: positions, working orders, market data, exposure), the throttles
// (throttle.ts), the equity triggers (equity-triggers.ts: daily loss and drawdown) and the pre-trade
// checks (checks.ts: one named function each, in one ordered list). evaluate() sizes the order a
// signal asks for, walks the list, and on pass books the order as working.
//
// Per decision (bench/risk.bench.ts, risk_decisions_per_s): one map lookup finds the symbol's state
// and its limits; the book's exposure is summed again only after a price, position or working order
// changed; check results that carry nothing specific to the signal are shared frozen objects; denial
// reasons are built only for the deciding check. Every check is still run and recorded with its values.
//
// Barrier exits (barrier-exits.ts), when configured: a passed entry carries the bracket and the time
// limit of the triple-barrier labels its model was trained on; a passed order that closes a position
// names its exit reason and cancels the closed entries' brackets first; and each market event of a
// symbol may send the time exits that fell due (timeExits). With them off, orders are as before.
import type { Clock } from '../../core/clock.ts';
import { decisionIdFor, intentIdFor, orderIdFor, timeExitIntentIdFor } from '../../core/lineage-ids.ts';
import type {
  Bar,
  ExitReason,
  Fill,
  OrderEvent,
  OrderIntent,
  PortfolioSnapshot,
  QuoteTick,
  RiskDecision,
  Signal,
  TradeTick,
} from '../../schemas/messages.ts';
import type { WorkingOrdersState } from '../../schemas/snapshots.ts';
import {
  type BarrierEntry,
  type BarrierExitOptions,
  BarrierExits,
  type EntryExits,
  exitCancelsOf,
} from './barrier-exits.ts';
import { type Exposure, PositionBook, referencePrice, type Side } from './book.ts';
import { CheckRecorder } from './check-record.ts';
import {
  type GateView,
  ProposedOrder,
  preTradeChecks,
  SharedResults,
  type SymbolRules,
  type SymbolState,
} from './checks.ts';
import { EquityTriggers, type RiskTrigger, type TradingState } from './equity-triggers.ts';
import type { RiskLimits } from './limits.ts';
import { RecentIds } from './recent-ids.ts';
import type { Sizer } from './sizing.ts';
import { Throttle } from './throttle.ts';
import { type InstrumentSpec, roundPriceToTick, venueQuantity } from './venue-rules.ts';

export type { Side } from './book.ts';
export type { DecisionCode, DenialCode, RiskCheck } from './check-record.ts';
export type { RiskTrigger, TradingState } from './equity-triggers.ts';

/** The strategy of an operator's flatten signals (actors/runtime/operator-control.ts): their exits say 'flatten'. */
export const FLATTEN_STRATEGY = 'flatten';

export interface RiskResult {
  decision: RiskDecision;
  /** Present exactly when decision.outcome is 'pass'. */
  intent: OrderIntent | undefined;
  trigger: RiskTrigger | undefined;
  /**
   * Orders to cancel before the intent goes out: the bracket children (and entries still working) of
   * the barrier positions it closes, so they cannot close them a second time.
   */
  exitCancels: readonly string[];
}

/** A time exit: the cancels always, and the closing order when the entry still holds a position. */
export interface TimeExit {
  exitCancels: readonly string[];
  pass: { decision: RiskDecision; intent: OrderIntent } | undefined;
}

const NO_CANCELS: readonly string[] = Object.freeze([]);
const NO_TIME_EXITS: readonly TimeExit[] = Object.freeze([]);
const QUANTITY_EPSILON = 1e-9;

export interface RiskGateCoreOptions {
  limits: RiskLimits;
  sizer: Sizer;
  /** The venue's lot, minimum and tick rules by symbol (trading.venueRules); a symbol without is unchanged. */
  venueRules?: Readonly<Record<string, InstrumentSpec>>;
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
  /** Entries get the exits of their model's triple-barrier labels (off when absent). */
  barrierExits?: BarrierExitOptions;
}

/** What accept() adds to a pass decision beyond the intent. */
interface Accepted {
  intent: OrderIntent;
  exitCancels: readonly string[];
  /** Appended to the decision's reason: the entry's barrier exits, or why it has none. */
  note: string | undefined;
}

export class RiskGateCore {
  private state: TradingState;
  private readonly limits: RiskLimits;
  private readonly sizer: Sizer;
  private readonly clock: Clock;
  private readonly orderType: OrderIntent['order_type'];
  private readonly limitOffset: number;
  private readonly timeInForce: OrderIntent['time_in_force'];
  private readonly book: PositionBook<SymbolRules>;
  /** Public for the binding's snapshot (state/restore); the checks read it through the view. */
  readonly equity: EquityTriggers;
  private readonly orderRate: Throttle | undefined;
  private readonly seenSignals: RecentIds;
  private readonly shared = new SharedResults();
  private readonly view: GateView;
  private readonly recorder = new CheckRecorder(preTradeChecks.length);
  private lastEventTs = 0;
  private readonly proposal = new ProposedOrder();
  /** Present when barrier exits are configured; the binding gives it the models' label settings. */
  readonly barrierExits: BarrierExits | undefined;

  constructor(options: RiskGateCoreOptions) {
    const limits = options.limits;
    this.limits = limits;
    this.sizer = options.sizer;
    this.clock = options.clock;
    this.orderType = options.orderType ?? 'market';
    this.limitOffset = (options.limitOffsetBps ?? 0) / 10_000;
    this.timeInForce = options.timeInForce ?? (this.orderType === 'market' ? 'ioc' : 'day');
    this.state = options.tradingState ?? 'halted';
    this.barrierExits = options.barrierExits && new BarrierExits(options.barrierExits);
    const restricted = limits.restricted && new Set(limits.restricted);
    const repeated = limits.repeatedExecution;
    // Each symbol's limits are read once, when the book first sees it.
    this.book = new PositionBook<SymbolRules>(
      (symbol) => ({
        instrument: limits.instruments?.[symbol],
        venue: options.venueRules?.[symbol],
        restricted: restricted?.has(symbol) ?? false,
        buys: repeated && new Throttle(repeated.maxOrders, repeated.windowMs),
        sells: repeated && new Throttle(repeated.maxOrders, repeated.windowMs),
      }),
      options.idMemory ?? 100_000,
    );
    this.seenSignals = new RecentIds(options.idMemory ?? 100_000);
    this.equity = new EquityTriggers(limits);
    const rate = limits.orderRate;
    this.orderRate = rate && new Throttle(rate.maxOrders, rate.windowMs);
    this.view = {
      limits,
      restricted,
      book: this.book,
      equity: this.equity,
      orderRate: this.orderRate,
      shared: this.shared,
    };
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
    this.book.onTrade(tick);
  }

  onQuote(quote: QuoteTick): void {
    this.book.onQuote(quote);
  }

  /** A bar marks at its close (the last known price at its ts_event) and feeds the barrier volatility. */
  onBar(bar: Bar): void {
    this.book.onBar(bar);
    this.barrierExits?.onBar(bar);
  }

  /** Annualised volatility from the feature stream, for volatility-targeted sizing. */
  setVolatility(symbol: string, volatility: number): void {
    this.book.setVolatility(symbol, volatility);
  }

  /**
   * Equity for the daily-loss and drawdown limits. Returns the automatic trigger to send to the
   * machine when a limit is breached, so a loss halts trading before the next signal arrives.
   */
  onPortfolio(snapshot: PortfolioSnapshot): RiskTrigger | undefined {
    this.equity.onPortfolio(snapshot);
    this.shared.equityChanged();
    return this.equity.trigger(this.state);
  }

  /** Applies a fill to positions and working orders; a fill id seen before is ignored. */
  onFill(fill: Fill): void {
    if (this.book.onFill(fill)) this.barrierExits?.onFill(fill);
  }

  /** Ends a working order on a terminal status (see PositionBook.onOrderEvent). */
  onOrderEvent(event: OrderEvent): void {
    this.book.onOrderEvent(event);
    this.barrierExits?.onOrderEvent(event);
  }

  /** Replaces positions with reconciled ones (after a restart, from the portfolio or the venue). */
  reconcile(positions: readonly { symbol: string; quantity: number }[]): void {
    this.book.reconcile(positions);
  }

  /** Grows whenever the working orders change (the binding saves its snapshot then). */
  get workingRevision(): number {
    return this.book.workingRevision;
  }

  /** The working orders for the binding's snapshot (see PositionBook.saveWorking). */
  saveWorking(): WorkingOrdersState {
    return this.book.saveWorking();
  }

  /**
   * Takes back saved working orders, before any signal: their signals count as decided, so one
   * redelivered after the restart (its snapshot was saved before its ack) is a duplicate, as it would
   * be to the uninterrupted gate, and its order is not booked twice.
   */
  restoreWorking(state: WorkingOrdersState): void {
    this.book.restoreWorking(state);
    for (const order of state.orders) this.seenSignals.add(order.signalId);
  }

  /** Order ids still working, for "cancel all" on a halt. */
  workingOrderIds(): string[] {
    return this.book.workingOrderIds();
  }

  position(symbol: string): number {
    return this.book.position(symbol);
  }

  /** Gross and net exposure at reference prices, working orders counted at their worst. */
  exposure(): Exposure {
    return { ...this.book.exposure() };
  }

  // ---- the decision ----

  evaluate(signal: Signal): RiskResult {
    if (signal.ts_event > this.lastEventTs) this.lastEventTs = signal.ts_event;
    const order = this.propose(signal);
    const out = this.recorder;
    out.begin();
    for (const check of preTradeChecks) check(order, this.view, out);
    const checks = out.finish();
    const tsInit = this.clock.now();
    const accepted =
      out.code === 'OK' && order.entry !== undefined
        ? this.accept(signal, order, order.entry, tsInit)
        : undefined;
    const intent = accepted?.intent;
    const decision: RiskDecision = {
      schema: 'risk_decision.v1',
      id: decisionIdFor(signal.id, !order.fresh),
      ts_event: signal.ts_event,
      ts_init: tsInit,
      strategy: signal.strategy,
      symbol: signal.symbol,
      outcome: intent ? 'pass' : 'deny',
      code: out.code,
      reason: accepted?.note === undefined ? out.reason : `${out.reason}; ${accepted.note}`,
      trading_state: this.state,
      checks,
      signal_id: signal.id,
      intent_id: intent?.id,
    };
    return {
      decision,
      intent,
      trigger: this.equity.trigger(this.state),
      exitCancels: accepted?.exitCancels ?? NO_CANCELS,
    };
  }

  /**
   * The time exits of `symbol` due at `ts`, on each of its market events (after the book took the
   * event): every bracketed entry whose exit_after is at or before `ts` has its children cancelled and
   * what it still holds closed at market (exit_reason 'time'), without the pre-trade checks: it only
   * takes off a position the gate opened, and denying it would leave the position without its exit.
   * Not while halted: they stay due and go out on the symbol's first event after trading resumes.
   */
  timeExits(symbol: string, ts: number): readonly TimeExit[] {
    const barriers = this.barrierExits;
    if (barriers === undefined || this.state === 'halted') return NO_TIME_EXITS;
    const due = barriers.due(symbol, ts);
    if (due === undefined) return NO_TIME_EXITS;
    return due.map((entry) => this.timeExit(barriers, entry, ts));
  }

  private timeExit(barriers: BarrierExits, entry: BarrierEntry, ts: number): TimeExit {
    const s = this.book.entry(entry.symbol);
    const side: Side = entry.side === 'buy' ? 'sell' : 'buy';
    // What the entry still holds, never more than the position on its side (nothing to flip).
    const held = entry.side === 'buy' ? s.position : -s.position;
    const open = Math.max(0, held);
    const remaining = entry.filled - entry.closed;
    // Within float error of the whole position it closes the whole position, leaving no residue.
    const quantity = remaining >= open - QUANTITY_EPSILON ? open : remaining;
    const cancels = exitCancelsOf(entry);
    if (!(quantity > QUANTITY_EPSILON)) return { exitCancels: cancels, pass: undefined };
    const intentId = timeExitIntentIdFor(entry.orderId);
    const tsInit = this.clock.now();
    this.orderRate?.record(ts);
    this.book.addWorking(orderIdFor(intentId), s, side, quantity, entry.signalId);
    barriers.counts.timeExits++;
    const intent: OrderIntent = {
      schema: 'order_intent.v2',
      id: intentId,
      ts_event: ts,
      ts_init: tsInit,
      strategy: entry.strategy,
      symbol: entry.symbol,
      side,
      quantity,
      order_type: 'market',
      // Works until the position is closed, where an IOC remainder would leave part of it open.
      time_in_force: 'day',
      reduce_only: true,
      exit_reason: 'time',
      signal_id: entry.signalId,
    };
    const decision: RiskDecision = {
      schema: 'risk_decision.v1',
      id: decisionIdFor(intentId),
      ts_event: ts,
      ts_init: tsInit,
      strategy: entry.strategy,
      symbol: entry.symbol,
      outcome: 'pass',
      code: 'OK',
      reason: `time exit: entry ${entry.orderId} reached its time limit ${new Date(entry.exitAfter).toISOString()}; closing ${quantity} at market`,
      trading_state: this.state,
      checks: [],
      signal_id: entry.signalId,
      intent_id: intentId,
    };
    return { exitCancels: cancels, pass: { decision, intent } };
  }

  /** The order the signal asks for: its side, its size at the reference price, and what it reduces. */
  private propose(signal: Signal): Readonly<ProposedOrder> {
    // One lookup finds the symbol's market state and its limits; a symbol never seen on any input
    // reads the limits directly.
    const s = this.book.get(signal.symbol);
    const price = s === undefined ? Number.NaN : referencePrice(s);
    const side: Side = signal.direction < 0 ? 'sell' : 'buy';
    const sized =
      signal.direction === 0 || !(price > 0)
        ? 0
        : this.sizer.size({
            signal,
            price,
            equity: this.equity.equity,
            volatility: s?.volatility ?? Number.NaN,
          });
    const position = s === undefined ? 0 : s.position;
    const workingBuy = s === undefined ? 0 : s.workingBuy;
    const workingSell = s === undefined ? 0 : s.workingSell;
    const reducible = side === 'sell' ? position - workingSell : -(position + workingBuy);
    // A float residue of a closed position (fills of fractional quantities) is nothing to reduce.
    const reduces = sized > 0 && reducible > QUANTITY_EPSILON;
    const o = this.proposal;
    o.signalId = signal.id;
    o.symbol = signal.symbol;
    o.probability = signal.probability;
    o.now = this.lastEventTs;
    o.state = this.state;
    o.fresh = this.seenSignals.add(signal.id);
    o.entry = s;
    o.instrument = s === undefined ? this.limits.instruments?.[signal.symbol] : s.rules.instrument;
    o.price = price;
    o.side = side;
    // With barrier exits a signal against the position closes all of it, as a labelled position ends
    // whole at its first barrier; otherwise the sizer's order, capped at the position while reducing.
    const asked =
      reduces && this.barrierExits !== undefined
        ? reducible
        : this.state === 'reducing' && reduces
          ? Math.min(sized, reducible)
          : sized;
    const spec = s?.rules.venue;
    // Rounding down keeps a reducing order within what it reduces.
    o.venue = spec !== undefined && asked > 0 ? venueQuantity(spec, asked, price) : undefined;
    o.quantity = o.venue === undefined ? asked : o.venue.quantity;
    o.position = position;
    o.workingBuy = workingBuy;
    o.workingSell = workingSell;
    o.reducible = reducible;
    o.reduces = reduces;
    o.orderPrice = this.orderPrice(s, side, price);
    // An entry's barrier exits, worked out before the checks so that they check its stop and take-profit.
    o.exits =
      this.barrierExits !== undefined && !reduces && s !== undefined
        ? this.barrierExits.exitsFor(
            signal.model_version,
            signal.symbol,
            side,
            signal.ts_event,
            s.rules.venue?.tickSize,
          )
        : undefined;
    return o;
  }

  /**
   * Price the order is expected to trade at: the far touch for market orders, the limit otherwise (on the
   * venue's tick when it has one, never more aggressive).
   */
  private orderPrice(s: SymbolState | undefined, side: Side, reference: number): number {
    if (this.orderType === 'limit') {
      const limit = reference * (side === 'buy' ? 1 + this.limitOffset : 1 - this.limitOffset);
      const tick = s?.rules.venue?.tickSize;
      return tick === undefined ? limit : roundPriceToTick(limit, tick, side);
    }
    const touch = side === 'buy' ? s?.ask : s?.bid;
    return touch !== undefined && touch > 0 ? touch : reference;
  }

  /**
   * Books a passed order: the throttles count it and it works until fills or an end take it off. An
   * order that reduces the position names its exit reason; with barrier exits, it cancels the exits of
   * the entries it closes, and an entry gets its own.
   */
  private accept(signal: Signal, order: Readonly<ProposedOrder>, s: SymbolState, tsInit: number): Accepted {
    const { side, quantity, now } = order;
    const intentId = intentIdFor(signal.id);
    const orderId = orderIdFor(intentId);
    this.orderRate?.record(now);
    (side === 'buy' ? s.rules.buys : s.rules.sells)?.record(now);
    this.book.addWorking(orderId, s, side, quantity, signal.id);
    const exitReason: ExitReason | undefined = order.reduces
      ? signal.strategy === FLATTEN_STRATEGY
        ? 'flatten'
        : 'signal'
      : undefined;
    const barriers = this.barrierExits;
    const exits = order.exits;
    let cancels = NO_CANCELS;
    if (barriers !== undefined) {
      if (order.reduces) {
        cancels = barriers.closing(signal.symbol, side === 'buy' ? 'sell' : 'buy').flatMap(exitCancelsOf);
      } else if (exits?.bracket !== undefined) {
        barriers.track({
          orderId,
          symbol: signal.symbol,
          side,
          signalId: signal.id,
          strategy: signal.strategy,
          exitAfter: exits.exitAfter,
        });
      } else if (exits !== undefined) barriers.countPlain(exits.reason);
    }
    const intent: OrderIntent = {
      schema: 'order_intent.v2',
      id: intentId,
      ts_event: signal.ts_event,
      ts_init: tsInit,
      strategy: signal.strategy,
      symbol: signal.symbol,
      side,
      quantity,
      order_type: this.orderType,
      limit_price: this.orderType === 'limit' ? order.orderPrice : undefined,
      time_in_force: this.timeInForce,
      reduce_only: this.state === 'reducing',
      bracket: exits?.bracket,
      exit_after: exits?.bracket === undefined ? undefined : exits.exitAfter,
      exit_reason: exitReason,
      signal_id: signal.id,
    };
    return { intent, exitCancels: cancels, note: exits && describeExits(exits, this.barrierExits) };
  }
}

/** The decision's note on an entry's barrier exits. */
function describeExits(exits: EntryExits, barriers: BarrierExits | undefined): string {
  if (exits.bracket === undefined) return `plain entry without barrier exits: ${exits.reason}`;
  const { take_profit: takeProfit, stop_loss: stopLoss } = exits.bracket;
  const { labels, volatility, reference } = exits;
  return `barrier exits: take-profit ${takeProfit.limit_price}, stop-loss ${stopLoss.stop_price} (${labels.profitTake}/${labels.stopLoss} × volatility ${volatility.toPrecision(4)} over ${labels.volatilityWindow} ${barriers?.barInterval} bars from close ${reference}), time limit ${new Date(exits.exitAfter).toISOString()} (${labels.verticalBars} bars)`;
}
