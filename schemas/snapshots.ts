// What the stateful actors save to the snapshot store (streams/snapshot-store.ts), as versioned
// contracts checked whenever a snapshot is loaded: a restart must not build an actor from a value that
// someone edited, a bug wrote or an older release shaped otherwise. A change of shape is a new version
// (`risk_state.v3`), never an edit of a released one; a loader knows the versions it can read.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { OrderIntent, OrderIntentV1, OrderStatus, Side } from './messages.ts';
import type { Decoded } from './validate.ts';

const SymbolName = Type.String({ minLength: 1, maxLength: 64 });
const FillId = Type.String({ minLength: 1, maxLength: 256 });

const Positions = Type.Array(
  Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
);

/** risk_state.v1: the risk gate's own book, its positions and the last fill they reflect. */
export const RiskStateV1 = Type.Object(
  {
    positions: Positions,
    /** Absent before the first fill. */
    lastFillId: Type.Optional(FillId),
  },
  { additionalProperties: false },
);

const OrderId = Type.String({ minLength: 1, maxLength: 256 });
const closed = { additionalProperties: false } as const;
/** Longest volatility window a snapshot holds: bounds its size (each window keeps its returns). */
export const MAX_VOLATILITY_WINDOW = 10_000;
/** Most open bracketed entries a snapshot holds; each is removed when its position closes. */
export const MAX_BARRIER_ENTRIES = 100_000;
const MAX_SYMBOLS = 10_000;
/** Most working orders a snapshot holds; a gate with more saves a snapshot that is refused (it starts halted). */
export const MAX_WORKING_ORDERS = 100_000;

/** A RollingVolatility's running sums and returns (core/volatility.ts): a restored one goes on bit for bit. */
export const RollingVolatilityState = Type.Object(
  {
    window: Type.Integer({ minimum: 2, maximum: MAX_VOLATILITY_WINDOW }),
    /** The ring of the last returns, exactly `window` long (unused slots 0). */
    returns: Type.Array(Type.Number(), { maxItems: MAX_VOLATILITY_WINDOW }),
    /** Absent before the first close. */
    lastClose: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Returns pushed so far: where the ring goes on, and whether the value exists. */
    seen: Type.Integer({ minimum: 0 }),
    sum: Type.Number(),
    sumSq: Type.Number({ minimum: 0 }),
  },
  closed,
);

/** One symbol's volatility for the barrier exits (actors/risk/barrier-exits.ts): its last two bars and estimators. */
const BarrierVolatilityState = Type.Object(
  {
    symbol: SymbolName,
    lastBarTs: Type.Integer({ minimum: 0 }),
    lastClose: Type.Number({ exclusiveMinimum: 0 }),
    /** Both absent before the symbol's second bar. */
    previousBarTs: Type.Optional(Type.Integer({ minimum: 0 })),
    previousClose: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    byWindow: Type.Array(
      Type.Object(
        {
          estimator: RollingVolatilityState,
          /** The value as of the bar before the last; absent while it had none. */
          previous: Type.Optional(Type.Number({ minimum: 0 })),
        },
        closed,
      ),
      { maxItems: 64 },
    ),
  },
  closed,
);

/** One open bracketed entry (BarrierEntry): what its time exit and its closing need. */
export const BarrierEntryState = Type.Object(
  {
    orderId: OrderId,
    symbol: SymbolName,
    side: Side,
    signalId: Type.String({ minLength: 1, maxLength: 256 }),
    strategy: Type.String({ minLength: 1, maxLength: 128 }),
    exitAfter: Type.Integer({ minimum: 0 }),
    children: Type.Tuple([OrderId, OrderId]),
    filled: Type.Number({ minimum: 0 }),
    closed: Type.Number({ minimum: 0 }),
    entryDone: Type.Boolean(),
  },
  closed,
);

/** The barrier exits' state: window lengths in use, volatility per symbol, open entries oldest first. */
export const BarrierExitsState = Type.Object(
  {
    /** The bar interval the volatility was measured on: another one's windows are not restored. */
    barInterval: Type.String({ minLength: 1, maxLength: 32 }),
    windows: Type.Array(Type.Integer({ minimum: 2, maximum: MAX_VOLATILITY_WINDOW }), { maxItems: 64 }),
    volatility: Type.Array(BarrierVolatilityState, { maxItems: MAX_SYMBOLS }),
    entries: Type.Array(BarrierEntryState, { maxItems: MAX_BARRIER_ENTRIES }),
  },
  closed,
);

/** The equity triggers' reference points (actors/risk/equity-triggers.ts): the last equity, its peak, the day's start. */
export const EquityState = Type.Object(
  {
    equity: Type.Number(),
    peak: Type.Number(),
    dayStart: Type.Number(),
    /** The UTC day (days since the epoch) `dayStart` belongs to. */
    day: Type.Integer({ minimum: 0 }),
  },
  closed,
);

/** One order the gate passed and has not seen end (actors/risk/book.ts), with what of it has filled. */
const WorkingOrderState = Type.Object(
  {
    orderId: OrderId,
    symbol: SymbolName,
    side: Side,
    signalId: Type.String({ minLength: 1, maxLength: 256 }),
    /** What will ever fill: the order's quantity, or what had filled when it ended with fills in flight. */
    quantity: Type.Number({ exclusiveMinimum: 0 }),
    filled: Type.Number({ minimum: 0 }),
  },
  closed,
);

/** The gate's working orders, passed first first, and per symbol the unfilled totals as the book summed them. */
export const WorkingOrdersState = Type.Object(
  {
    orders: Type.Array(WorkingOrderState, { maxItems: MAX_WORKING_ORDERS }),
    /** Symbols whose totals are not zero (a float residue of ended orders too): restored bit for bit. */
    totals: Type.Array(Type.Object({ symbol: SymbolName, buy: Type.Number(), sell: Type.Number() }, closed), {
      maxItems: MAX_SYMBOLS,
    }),
  },
  closed,
);

/**
 * risk_state.v2: v1's book; the equity triggers' peak and day start (absent before the first portfolio
 * snapshot), so a restart does not reset the drawdown and daily-loss limits; and, with barrier exits
 * on, their open entries and volatility; and the working orders (absent while there are none), so
 * exposure after a restart counts the orders still working.
 */
export const RiskState = Type.Object(
  {
    positions: Positions,
    lastFillId: Type.Optional(FillId),
    equity: Type.Optional(EquityState),
    barrierExits: Type.Optional(BarrierExitsState),
    workingOrders: Type.Optional(WorkingOrdersState),
  },
  closed,
);

/** execution_state.v1: the execution actor's working orders and the highest gate term it has accepted. */
export const ExecutionStateV1 = Type.Object(
  {
    /** v1 intents in snapshots from before order_intent.v2, upgraded on restore. */
    open: Type.Array(Type.Union([OrderIntent, OrderIntentV1])),
    /** IntentGuard's highest gate term, 0 before any election (absent in snapshots from before the seal). */
    gateTerm: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

const VenueId = Type.String({ minLength: 1, maxLength: 128 });

/** An order at a broker that Sluice follows: its own (with the intent) or one it adopted. */
export const BrokerOrderState = Type.Object(
  {
    order_id: Type.String({ minLength: 1, maxLength: 256 }),
    intent_id: Type.String({ minLength: 1, maxLength: 256 }),
    /** Absent for an order placed by hand: the venue may hold none. */
    client_order_id: Type.Optional(VenueId),
    venue_order_id: Type.Optional(VenueId),
    symbol: SymbolName,
    side: Side,
    quantity: Type.Number({ exclusiveMinimum: 0 }),
    status: OrderStatus,
    /** What the venue last said had filled. */
    filled_quantity: Type.Number({ minimum: 0 }),
    /** The venue ids of this order's fills already published: a partial fill survives a restart. */
    venue_fill_ids: Type.Array(VenueId),
    /** Sluice's own orders: sent again when the venue never received them. */
    intent: Type.Optional(Type.Union([OrderIntent, OrderIntentV1])),
    /**
     * An order without an intent (a bracket's leg kept by the venue, one placed by hand and adopted):
     * what it was when first seen, for its orders row (absent in earlier snapshots).
     */
    followed: Type.Optional(
      Type.Object(
        {
          origin: Type.Union([Type.Literal('leg'), Type.Literal('venue')]),
          since: Type.Integer({ minimum: 0 }),
          order_type: Type.Index(OrderIntent, ['order_type']),
          limit_price: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          stop_price: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** What the execution actor keeps of a broker account between runs (absent with the simulated venue). */
export const BrokerState = Type.Object(
  {
    orders: Type.Array(BrokerOrderState),
    /** Signed position per symbol, from the fills published. */
    positions: Type.Array(
      Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
    ),
    /** Venue time (epoch ms) of the last fill Sluice knows: reconciliation reads the venue's fills from there. */
    fillsSince: Type.Integer({ minimum: 0 }),
    /** Reconciliations begun so far: numbers each one's messages, unique across restarts. */
    reconciliations: Type.Integer({ minimum: 0 }),
    /** The fills published lately (venue id, venue time), oldest first: a fill read again is not published twice. */
    recentVenueFills: Type.Array(
      Type.Object({ id: VenueId, ts: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    ),
    /** Spot: base-asset commissions of the fills published, per symbol (absent in earlier snapshots). */
    commissions: Type.Optional(
      Type.Array(
        Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
      ),
    ),
    /**
     * Spot: what each balance held beyond Sluice's fills at the first reconciliation that saw it; later
     * ones compare the balance against it (absent in earlier snapshots: recorded at the next one).
     */
    balanceBaselines: Type.Optional(
      Type.Array(
        Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
      ),
    ),
  },
  { additionalProperties: false },
);

/** Event time in epoch ms (a latency model may add fractions). */
const EventTime = Type.Number({ minimum: 0 });

/**
 * An order at the simulated venue, as its matching needs it: open orders, a bracket entry still
 * followed by an open child, and the children of an open entry (so a later fill of it grows them, not
 * new ones).
 */
export const SimulatedVenueOrderState = Type.Object(
  {
    order_id: OrderId,
    /** The order's intent; absent for a bracket child, whose terms follow from its entry's. */
    intent: Type.Optional(OrderIntent),
    status: OrderStatus,
    /** Above the terms' quantity for a bracket child its entry's later fills grew. */
    quantity: Type.Number({ exclusiveMinimum: 0 }),
    filled_quantity: Type.Number({ minimum: 0 }),
    arrival_ts: EventTime,
    arrived: Type.Boolean(),
    /** Whether the fill model has seen it (a resting order is no longer a taker). */
    looked: Type.Boolean(),
    /** False for a stop or stop-limit the market has not reached yet. */
    triggered: Type.Boolean(),
    /** When its pending cancel takes effect; absent without one. */
    cancel_at: Type.Optional(EventTime),
    /** A day order's session close; absent for one that never expires. */
    expires_at: Type.Optional(EventTime),
    /** Order events and fills reported so far: the next ones' ids go on from there. */
    events: Type.Integer({ minimum: 0 }),
    fills: Type.Integer({ minimum: 0 }),
    /** A bracket child's entry (saved before it) and leg. */
    bracket_parent: Type.Optional(
      Type.Object(
        {
          order_id: OrderId,
          leg: Type.Union([Type.Literal('take_profit'), Type.Literal('stop_loss')]),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** The simulated venue's books (SimulatedVenue.state): a restart goes on as if uninterrupted. */
export const SimulatedVenueState = Type.Object(
  {
    /** In submission order, which is also their matching priority. */
    orders: Type.Array(SimulatedVenueOrderState),
    /** Signed position per symbol from the venue's fills: what reduce-only orders may take off. */
    positions: Type.Array(
      Type.Object({ symbol: SymbolName, quantity: Type.Number() }, { additionalProperties: false }),
      { maxItems: MAX_SYMBOLS },
    ),
    /** The last quote per symbol: taker fills slip against it. */
    quotes: Type.Array(
      Type.Object(
        { symbol: SymbolName, bid: Type.Number(), ask: Type.Number() },
        { additionalProperties: false },
      ),
      { maxItems: MAX_SYMBOLS },
    ),
  },
  { additionalProperties: false },
);

/** execution_state.v2: v1's working intents (simulated venue) and, at a broker, its orders and fills. */
export const ExecutionState = Type.Object(
  {
    open: Type.Array(Type.Union([OrderIntent, OrderIntentV1])),
    gateTerm: Type.Optional(Type.Integer({ minimum: 0 })),
    broker: Type.Optional(BrokerState),
    /** The simulated venue's own books (absent at a broker and in earlier snapshots). */
    simulatedVenue: Type.Optional(SimulatedVenueState),
  },
  { additionalProperties: false },
);

/** The portfolio's cash and holdings (PortfolioCore.toJSON). */
export const PortfolioState = Type.Object(
  {
    account: Type.String({ minLength: 1 }),
    cash: Type.Number(),
    lastEventTs: Type.Integer({ minimum: 0 }),
    lastFillId: Type.Optional(FillId),
    /** Recent fill ids, oldest first, so a redelivered fill stays a no-op after restore. */
    recentFillIds: Type.Array(FillId),
    positions: Type.Array(
      Type.Object(
        {
          symbol: SymbolName,
          quantity: Type.Number(),
          avg_price: Type.Number({ minimum: 0 }),
          realized_pnl: Type.Number(),
          last_price: Type.Number({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RiskState = Static<typeof RiskState>;
export type WorkingOrdersState = Static<typeof WorkingOrdersState>;
export type BarrierExitsState = Static<typeof BarrierExitsState>;
export type EquityState = Static<typeof EquityState>;
export type BarrierEntryState = Static<typeof BarrierEntryState>;
export type RollingVolatilityState = Static<typeof RollingVolatilityState>;
export type ExecutionState = Static<typeof ExecutionState>;
export type BrokerState = Static<typeof BrokerState>;
export type BrokerOrderState = Static<typeof BrokerOrderState>;
export type SimulatedVenueState = Static<typeof SimulatedVenueState>;
export type SimulatedVenueOrderState = Static<typeof SimulatedVenueOrderState>;
export type PortfolioState = Static<typeof PortfolioState>;

/** One version of what an actor saves: its tag and the check of a loaded value. */
export interface SnapshotContract<T> {
  /** The state's name; untagged snapshots (saved before the contracts) are read as `<name>.v1`. */
  readonly name: string;
  /** `<name>.v<version>`, saved beside the value. */
  readonly schema: string;
  check(value: unknown): Decoded<T>;
  /** Earlier versions still read, by tag: each checks a value of its version and upgrades it. */
  readonly earlier?: Readonly<Record<string, (value: unknown) => Decoded<T>>>;
}

function checker<S extends TSchema>(schema: S): (value: unknown) => Decoded<Static<S>> {
  const compiled = TypeCompiler.Compile(schema);
  return (value) => {
    if (compiled.Check(value)) return { ok: true, value };
    const first = compiled.Errors(value).First();
    return { ok: false, reason: `${first?.path || '(root)'}: ${first?.message ?? 'invalid'}` };
  };
}

function contract<S extends TSchema>(
  name: string,
  version: number,
  schema: S,
  earlier?: Record<string, (value: unknown) => Decoded<Static<S>>>,
): SnapshotContract<Static<S>> {
  return { name, schema: `${name}.v${version}`, check: checker(schema), ...(earlier ? { earlier } : {}) };
}

/** A v1 snapshot is a v2 one without broker state (v1 predates the brokers). */
const checkExecutionV1 = checker(ExecutionStateV1);

/** What the schema cannot say about barrier state: ring lengths, known windows, unique ids. */
function barrierExitsProblem(state: BarrierExitsState): string | undefined {
  const windows = new Set(state.windows);
  if (windows.size !== state.windows.length) return '/barrierExits/windows: a window length twice';
  const symbols = new Set<string>();
  for (const [i, symbol] of state.volatility.entries()) {
    const at = `/barrierExits/volatility/${i}`;
    if (symbols.has(symbol.symbol)) return `${at}/symbol: ${symbol.symbol} twice`;
    symbols.add(symbol.symbol);
    if ((symbol.previousBarTs === undefined) !== (symbol.previousClose === undefined))
      return `${at}: previousBarTs and previousClose go together`;
    if (symbol.previousBarTs !== undefined && symbol.previousBarTs >= symbol.lastBarTs)
      return `${at}/previousBarTs: not before lastBarTs`;
    const seen = new Set<number>();
    for (const [j, { estimator }] of symbol.byWindow.entries()) {
      const where = `${at}/byWindow/${j}/estimator`;
      if (!windows.has(estimator.window) || seen.has(estimator.window))
        return `${where}/window: ${estimator.window} is not one of the windows, or twice`;
      seen.add(estimator.window);
      if (estimator.returns.length !== estimator.window)
        return `${where}/returns: ${estimator.returns.length} returns for a window of ${estimator.window}`;
      if (!Number.isSafeInteger(estimator.seen)) return `${where}/seen: not a count`;
    }
  }
  const ids = new Set<string>();
  for (const [i, entry] of state.entries.entries()) {
    for (const id of [entry.orderId, ...entry.children]) {
      if (ids.has(id)) return `/barrierExits/entries/${i}: order id ${id} twice`;
      ids.add(id);
    }
  }
  return undefined;
}

/**
 * Unfilled quantities of the orders summed per symbol may differ from the book's running totals by
 * float rounding, never by more than this share of the quantities.
 */
const WORKING_TOTAL_TOLERANCE = 1e-9;

/** What the schema cannot say about working orders: unique ids, unfilled left, totals that match them. */
function workingOrdersProblem(state: WorkingOrdersState): string | undefined {
  const sums = new Map<string, { buy: number; sell: number; scale: number }>();
  const ids = new Set<string>();
  for (const [i, order] of state.orders.entries()) {
    const at = `/workingOrders/orders/${i}`;
    if (ids.has(order.orderId)) return `${at}/orderId: ${order.orderId} twice`;
    ids.add(order.orderId);
    if (!(order.filled < order.quantity))
      return `${at}/filled: not below the quantity (a filled order is not working)`;
    const sum = sums.get(order.symbol) ?? { buy: 0, sell: 0, scale: 1 };
    sum[order.side] += order.quantity - order.filled;
    sum.scale += order.quantity;
    sums.set(order.symbol, sum);
  }
  const totalled = new Set<string>();
  for (const [i, total] of state.totals.entries()) {
    const at = `/workingOrders/totals/${i}`;
    if (totalled.has(total.symbol)) return `${at}/symbol: ${total.symbol} twice`;
    totalled.add(total.symbol);
    const sum = sums.get(total.symbol) ?? { buy: 0, sell: 0, scale: 1 };
    const tolerance = WORKING_TOTAL_TOLERANCE * sum.scale;
    if (!(Math.abs(total.buy - sum.buy) <= tolerance && Math.abs(total.sell - sum.sell) <= tolerance))
      return `${at}: ${total.buy} / ${total.sell} unfilled is not what its orders leave (${sum.buy} / ${sum.sell})`;
  }
  for (const symbol of sums.keys())
    if (!totalled.has(symbol))
      return `/workingOrders/totals: no totals for ${symbol}, which has working orders`;
  return undefined;
}

const checkRiskStateShape = checker(RiskState);

function checkRiskState(value: unknown): Decoded<RiskState> {
  const checked = checkRiskStateShape(value);
  if (!checked.ok) return checked;
  const { equity, barrierExits, workingOrders } = checked.value;
  const problem =
    equity !== undefined && !(equity.peak >= equity.equity)
      ? '/equity/peak: below the equity'
      : (barrierExits && barrierExitsProblem(barrierExits)) ||
        (workingOrders && workingOrdersProblem(workingOrders));
  return problem ? { ok: false, reason: problem } : checked;
}

/** A v1 snapshot is a v2 one without barrier state (v1 predates it). */
const checkRiskV1 = checker(RiskStateV1);

export const snapshotContracts = {
  risk: {
    ...contract('risk_state', 2, RiskState, { 'risk_state.v1': (value) => checkRiskV1(value) }),
    check: checkRiskState,
  },
  execution: contract('execution_state', 2, ExecutionState, {
    'execution_state.v1': (value) => checkExecutionV1(value),
  }),
  portfolio: contract('portfolio_state', 1, PortfolioState),
};
