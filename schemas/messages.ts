// The one source of every message contract: TypeScript types (Static), runtime validators
// (schemas/validate.ts) and the JSON Schema / AsyncAPI files (schemas/generate.ts) all come from here.
//
// Time: `ts_event` (when it happened at the source) and `ts_init` (when Sluice received it) are
// integer epoch MILLISECONDS. They fit a JSON number exactly in every language; events inside the
// same millisecond are ordered by their source sequence, never by a finer clock.
import { type Static, type TObject, type TProperties, Type } from '@sinclair/typebox';

export const SCHEMA_BASE_URI = 'https://sluice.dev/schemas';

/** 1990-01-01T00:00:00Z: no market data Sluice takes in is older (README "Messages and subjects"). */
export const EARLIEST_MARKET_TIME_MS = 631_152_000_000;
/**
 * 9999-12-31T23:59:59.999Z: the latest time every store and reader of a message can hold. PostgreSQL's
 * timestamptz and a JavaScript Date reach much further, but ISO-8601 text has four-digit years. A later
 * time is refused by the contract rather than by the database, where it failed every batch it was in.
 */
export const LATEST_TIME_MS = 253_402_300_799_999;
const EpochMillis = Type.Integer({
  minimum: 0,
  maximum: LATEST_TIME_MS,
  description: 'epoch milliseconds (UTC), at most 9999-12-31T23:59:59.999Z',
});
/** Times of market data (ticks, bars, news, sentiment): from a source, so bounded to the domain too. */
const MarketMillis = Type.Integer({
  minimum: EARLIEST_MARKET_TIME_MS,
  maximum: LATEST_TIME_MS,
  description: 'epoch milliseconds (UTC), 1990-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z',
});
const EventId = Type.String({
  minLength: 1,
  maxLength: 256,
  description:
    'deterministic id (source + sequence, or derived from the ids that caused it); used as Nats-Msg-Id',
});
const SymbolName = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'instrument symbol as the venue spells it',
});
const PositivePrice = Type.Number({ exclusiveMinimum: 0 });
const NonNegative = Type.Number({ minimum: 0 });
export const Side = Type.Union([Type.Literal('buy'), Type.Literal('sell')]);
const Label = Type.Union([Type.Literal('bearish'), Type.Literal('bullish'), Type.Literal('neutral')]);
const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);

/**
 * Declares a versioned event: the common header fields plus the message's own. `times` bounds
 * ts_event and ts_init: market data passes MarketMillis; the rest carry the time of the message that
 * caused them or of a receiving clock.
 */
function event<Name extends string, Version extends number, P extends TProperties>(
  name: Name,
  version: Version,
  description: string,
  properties: P,
  times = EpochMillis,
) {
  const schemaTag = `${name}.v${version}` as `${Name}.v${Version}`;
  return Type.Object(
    {
      schema: Type.Literal(schemaTag),
      id: EventId,
      ts_event: times,
      ts_init: times,
      ...properties,
    },
    { $id: `${SCHEMA_BASE_URI}/${schemaTag}.json`, title: name, description, additionalProperties: false },
  );
}

export const TradeTick = event(
  'trade_tick',
  1,
  'One trade printed at a venue.',
  {
    symbol: SymbolName,
    price: PositivePrice,
    size: NonNegative,
    aggressor: Type.Union([Type.Literal('buy'), Type.Literal('sell'), Type.Literal('unknown')]),
    trade_id: Type.Optional(Type.String({ maxLength: 128 })),
    venue: Type.Optional(Type.String({ maxLength: 64 })),
  },
  MarketMillis,
);

export const QuoteTick = event(
  'quote_tick',
  1,
  'Top of book at a venue.',
  {
    symbol: SymbolName,
    bid: PositivePrice,
    ask: PositivePrice,
    bid_size: NonNegative,
    ask_size: NonNegative,
    venue: Type.Optional(Type.String({ maxLength: 64 })),
  },
  MarketMillis,
);

export const Bar = event(
  'bar',
  1,
  'OHLCV bar; ts_event is the bar close (start + interval), so it is known at ts_event.',
  {
    symbol: SymbolName,
    interval: Type.String({
      // Positive, without leading zeros (the text is part of a bar's key), at most 8 digits (a safe integer of ms).
      pattern: '^[1-9][0-9]{0,7}(ms|s|m|h|d)$',
      description: 'bar length, e.g. 1s, 1m, 1d',
    }),
    open: PositivePrice,
    high: PositivePrice,
    low: PositivePrice,
    close: PositivePrice,
    volume: NonNegative,
  },
  MarketMillis,
);

export const NewsItem = event(
  'news_item',
  1,
  'A headline or post about a symbol.',
  {
    symbol: SymbolName,
    headline: Type.String({ minLength: 1, maxLength: 4096 }),
    source: Type.String({ minLength: 1, maxLength: 128 }),
    url: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  MarketMillis,
);

export const SentimentScore = event(
  'sentiment_score',
  1,
  'Sentiment of a news item, scored by Sluice or a provider.',
  {
    symbol: SymbolName,
    label: Label,
    score: Type.Number({ minimum: -1, maximum: 1, description: 'P(bullish) - P(bearish)' }),
    confidence: Type.Number({ minimum: 0, maximum: 1 }),
    model_version: Type.String({ minLength: 1 }),
    news_id: Type.Optional(EventId),
  },
  MarketMillis,
);

export const FeatureVector = event('feature_vector', 1, 'Features of one symbol after a bar closed.', {
  symbol: SymbolName,
  feature_set: Type.String({ minLength: 1 }),
  feature_set_version: Type.String({ minLength: 1, description: 'hash of the feature-set declaration' }),
  values: Type.Record(Type.String(), Type.Number()),
  bar_id: EventId,
});

export const Signal = event('signal', 1, 'A model output for one symbol.', {
  strategy: Type.String({ minLength: 1 }),
  symbol: SymbolName,
  model_version: Type.String({ minLength: 1 }),
  direction: Type.Union([Type.Literal(-1), Type.Literal(0), Type.Literal(1)]),
  probability: Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'model probability of the predicted direction',
  }),
  feature_id: EventId,
});

/** The first order contract (market and limit only): still read, upgraded to v2 on arrival (upgradeOrderIntent). */
export const OrderIntentV1 = event(
  'order_intent',
  1,
  'An order the risk gate let through (market or limit); read and upgraded to order_intent.v2.',
  {
    strategy: Type.String({ minLength: 1 }),
    symbol: SymbolName,
    side: Side,
    quantity: Type.Number({ exclusiveMinimum: 0 }),
    order_type: Type.Union([Type.Literal('market'), Type.Literal('limit')]),
    limit_price: Type.Optional(PositivePrice),
    time_in_force: Type.Union([Type.Literal('gtc'), Type.Literal('ioc'), Type.Literal('day')]),
    reduce_only: Type.Boolean(),
    signal_id: EventId,
    // Optional in the contract so that the execution actor, not the decoder, refuses an unsealed
    // intent: it dead-letters it with the reason and raises alert.critical.unauthorised_intent.
    /** The id of the pass risk_decision that let this intent through. */
    decision_id: Type.Optional(EventId),
    gate_term: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'leadership term of the risk gate that passed it, when the gate runs under an election',
      }),
    ),
    seal: Type.Optional(
      Type.String({
        description:
          "the risk gate's HMAC-SHA256 (64 hex characters) over every other field of the intent, with the key shared only by the risk and execution roles (core/gate-seal.ts); the execution actor refuses an intent without a matching seal",
      }),
    ),
  },
);

const OrderType = Type.Union([
  Type.Literal('market'),
  Type.Literal('limit'),
  Type.Literal('stop'),
  Type.Literal('stop_limit'),
]);
const TimeInForce = Type.Union([
  Type.Literal('day'),
  Type.Literal('gtc'),
  Type.Literal('ioc'),
  Type.Literal('fok'),
]);
/** Why an order closes (part of) a position; absent on an order that opens or adds. */
export const ExitReason = Type.Union([
  Type.Literal('signal'),
  Type.Literal('take_profit'),
  Type.Literal('stop_loss'),
  Type.Literal('time'),
  Type.Literal('flatten'),
]);

/**
 * Exits attached to an entry (a bracket): once the entry fills, a take-profit limit and a stop-loss
 * stop (or stop-limit) work together as one-cancels-other on the filled quantity, reduce-only.
 */
export const Bracket = Type.Object(
  {
    take_profit: Type.Object({ limit_price: PositivePrice }, { additionalProperties: false }),
    stop_loss: Type.Object(
      { stop_price: PositivePrice, limit_price: Type.Optional(PositivePrice) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const OrderIntent = event(
  'order_intent',
  2,
  'An order the risk gate let through; the only input to execution.',
  {
    strategy: Type.String({ minLength: 1 }),
    symbol: SymbolName,
    side: Side,
    quantity: Type.Number({ exclusiveMinimum: 0 }),
    order_type: OrderType,
    /** limit and stop_limit orders. */
    limit_price: Type.Optional(PositivePrice),
    /** stop and stop_limit orders: the price whose touch triggers them. */
    stop_price: Type.Optional(PositivePrice),
    time_in_force: TimeInForce,
    reduce_only: Type.Boolean(),
    bracket: Type.Optional(Bracket),
    /**
     * Time exit of a bracket (epoch ms): when the entry's exits are still working then, the risk gate
     * cancels them and closes the position at market (the triple-barrier vertical barrier).
     */
    exit_after: Type.Optional(EpochMillis),
    exit_reason: Type.Optional(ExitReason),
    signal_id: EventId,
    // Optional in the contract so that the execution actor, not the decoder, refuses an unsealed
    // intent: it dead-letters it with the reason and raises alert.critical.unauthorised_intent.
    /** The id of the pass risk_decision that let this intent through. */
    decision_id: Type.Optional(EventId),
    gate_term: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'leadership term of the risk gate that passed it, when the gate runs under an election',
      }),
    ),
    seal: Type.Optional(
      Type.String({
        description:
          "the risk gate's HMAC-SHA256 (64 hex characters) over every other field of the intent, with the key shared only by the risk and execution roles (core/gate-seal.ts); the execution actor refuses an intent without a matching seal",
      }),
    ),
  },
);

export const RiskCheckResult = Type.Object(
  {
    check: Type.String(),
    passed: Type.Boolean(),
    value: Type.Optional(Type.Number()),
    limit: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

export const RiskDecision = event(
  'risk_decision',
  1,
  'Pass or typed denial for one signal; every decision is audited.',
  {
    strategy: Type.String({ minLength: 1 }),
    symbol: SymbolName,
    outcome: Type.Union([Type.Literal('pass'), Type.Literal('deny')]),
    code: Type.String({ minLength: 1, description: 'OK or a denial code such as MAX_NOTIONAL' }),
    reason: Type.String(),
    trading_state: Type.Union([Type.Literal('active'), Type.Literal('reducing'), Type.Literal('halted')]),
    checks: Type.Array(RiskCheckResult),
    signal_id: EventId,
    intent_id: Type.Optional(EventId),
  },
);

export const OrderStatus = Type.Union([
  Type.Literal('initialized'),
  Type.Literal('denied'),
  Type.Literal('submitted'),
  Type.Literal('accepted'),
  Type.Literal('rejected'),
  Type.Literal('canceled'),
  Type.Literal('expired'),
  Type.Literal('partially_filled'),
  Type.Literal('filled'),
  Type.Literal('pending_cancel'),
]);

/**
 * Whose money an order moves: the simulated venue's (backtests, paper in process), a broker's paper
 * account, or a live account (real money, opt-in with `live: true`).
 */
export const AccountMode = Type.Union([
  Type.Literal('simulated'),
  Type.Literal('paper'),
  Type.Literal('live'),
]);

export const OrderEvent = event('order_event', 1, 'A change of an order state.', {
  order_id: EventId,
  intent_id: EventId,
  symbol: SymbolName,
  status: OrderStatus,
  filled_quantity: NonNegative,
  leaves_quantity: NonNegative,
  reason: Type.Optional(Type.String()),
  account_mode: Type.Optional(AccountMode),
  /** The venue's own id of the order, where the venue is not the simulated one. */
  venue_order_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});

export const Fill = event('fill', 1, 'A (partial) execution of an order.', {
  order_id: EventId,
  symbol: SymbolName,
  side: Side,
  quantity: Type.Number({ exclusiveMinimum: 0 }),
  price: PositivePrice,
  fee: Type.Number(),
  liquidity: Type.Union([Type.Literal('maker'), Type.Literal('taker')]),
  account_mode: Type.Optional(AccountMode),
  venue_order_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** The venue's id of this execution: a fill reported twice by the venue keeps one id here. */
  venue_fill_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /**
   * The part of the fee the venue took in the base asset, in its units (Binance takes a buy's
   * commission out of the coin bought): the position moves by the quantity less this, and `fee`
   * already counts it at the fill price. Never set by the simulated venue.
   */
  base_commission: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
});

const VenueOrderId = Type.String({ minLength: 1, maxLength: 128 });

/** One thing a reconciliation found between the venue's books and Sluice's, and what it did about it. */
export const ReconciliationDifference = Type.Object(
  {
    kind: Type.Union([
      Type.Literal('missed_fill'),
      Type.Literal('order_state'),
      Type.Literal('resubmitted'),
      Type.Literal('order_missing'),
      Type.Literal('unknown_order'),
      Type.Literal('position'),
      Type.Literal('venue_unreachable'),
    ]),
    /**
     * adopted: published from the venue's books (a fill, an order's state, an order placed by hand);
     * cancelled: an order Sluice did not place, cancelled at the venue; resubmitted: an order the venue
     * never received, sent again under its client order id; unexplained: the risk gate stays halted.
     */
    resolution: Type.Union([
      Type.Literal('adopted'),
      Type.Literal('cancelled'),
      Type.Literal('resubmitted'),
      Type.Literal('unexplained'),
    ]),
    symbol: Type.Optional(SymbolName),
    order_id: Type.Optional(EventId),
    venue_order_id: Type.Optional(VenueOrderId),
    /** Positions: the venue's signed quantity and Sluice's (from the fills it published). */
    venue_quantity: Type.Optional(Type.Number()),
    sluice_quantity: Type.Optional(Type.Number()),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

export const Reconciliation = event(
  'reconciliation',
  1,
  "The execution actor's reconciliation with its venue (at start, after each reconnect, on an operator's request): begun, clean, or with a difference Sluice cannot explain. The risk gate leaves halted only after a clean one.",
  {
    venue: Type.String({ minLength: 1, maxLength: 64 }),
    account_mode: AccountMode,
    trigger: Type.Union([
      Type.Literal('start'),
      Type.Literal('reconnect'),
      Type.Literal('operator'),
      Type.Literal('unknown_order'),
    ]),
    outcome: Type.Union([Type.Literal('reconciling'), Type.Literal('ok'), Type.Literal('mismatch')]),
    differences: Type.Array(ReconciliationDifference),
    /** Venue time (epoch ms) from which the venue's fills were read; absent with the simulated venue. */
    fills_since: Type.Optional(EpochMillis),
  },
);

export const Position = Type.Object(
  {
    symbol: SymbolName,
    quantity: Type.Number({ description: 'signed: long > 0, short < 0' }),
    avg_price: NonNegative,
    realized_pnl: Type.Number(),
    unrealized_pnl: Type.Number(),
    last_price: NonNegative,
  },
  { additionalProperties: false },
);

export const PortfolioSnapshot = event(
  'portfolio_snapshot',
  1,
  'Positions, cash and exposure of one account.',
  {
    account: Type.String({ minLength: 1 }),
    positions: Type.Array(Position),
    cash: Type.Number(),
    equity: Type.Number(),
    gross_exposure: NonNegative,
    net_exposure: Type.Number(),
    fill_id: Type.Optional(EventId),
  },
);

export const Alert = event('alert', 1, 'Something an operator should know about.', {
  severity: Severity,
  code: Type.String({ minLength: 1 }),
  message: Type.String(),
  source: Type.String({ minLength: 1, description: 'actor or component that raised it' }),
  dedupe_key: Type.String({ minLength: 1 }),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
});

export const ControlCommand = event('control_command', 1, 'An operator command over ctl.<actor>.<command>.', {
  actor: Type.String({ minLength: 1 }),
  command: Type.String({ minLength: 1 }),
  operator: Type.String({ minLength: 1 }),
  reason: Type.Optional(Type.String()),
  args: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
});

export const ControlReply = event('control_reply', 1, 'The answer to a control command.', {
  command_id: EventId,
  ok: Type.Boolean(),
  error: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  data: Type.Optional(Type.Unknown()),
});

export const DeadLetter = event('dead_letter', 1, 'A message an actor could not process, with why.', {
  original_subject: Type.String({ minLength: 1 }),
  reason: Type.String({ minLength: 1 }),
  consumer: Type.String(),
  stream_sequence: Type.Optional(Type.Integer({ minimum: 0 })),
  delivery_count: Type.Optional(Type.Integer({ minimum: 0 })),
  source_row: Type.Optional(Type.Integer({ minimum: 0, description: 'row number when it came from a file' })),
  payload: Type.String({
    description: 'the original bytes as UTF-8 (lossy for binary); cut short when payload_truncated',
  }),
  payload_truncated: Type.Optional(
    Type.Boolean({
      description: 'true when the payload did not fit the server max_payload and was cut short',
    }),
  ),
  payload_bytes: Type.Optional(
    Type.Integer({ minimum: 0, description: 'size of the original payload in bytes' }),
  ),
  payload_sha256: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the original payload, hex' }),
  ),
});

const FeedChannelName = Type.Union([
  Type.Literal('trades'),
  Type.Literal('quotes'),
  Type.Literal('bars'),
  Type.Literal('news'),
]);

export const FeedFrame = event(
  'feed_frame',
  1,
  'A frame a live feed received, as its provider sent it, with its receive time (ts_event = ts_init): the recording `sluice feed replay` plays back through the same adapter.',
  {
    provider: Type.String({ minLength: 1, maxLength: 64, description: 'alpaca, polygon, ccxt:<exchange>' }),
    session: Type.String({ minLength: 1, maxLength: 128, description: 'the feed session that received it' }),
    sequence: Type.Integer({ minimum: 0, description: 'position in the order the session published' }),
    channel: FeedChannelName,
    origin: Type.Union([Type.Literal('stream'), Type.Literal('backfill')]),
    payload: Type.Unknown({ description: "the provider's frame as parsed JSON" }),
  },
);

/** Every message contract, keyed by its schema name. */
export const messageSchemas = {
  trade_tick: TradeTick,
  quote_tick: QuoteTick,
  bar: Bar,
  news_item: NewsItem,
  sentiment_score: SentimentScore,
  feature_vector: FeatureVector,
  signal: Signal,
  order_intent: OrderIntent,
  order_intent_v1: OrderIntentV1,
  risk_decision: RiskDecision,
  order_event: OrderEvent,
  fill: Fill,
  reconciliation: Reconciliation,
  portfolio_snapshot: PortfolioSnapshot,
  alert: Alert,
  control_command: ControlCommand,
  control_reply: ControlReply,
  dead_letter: DeadLetter,
  feed_frame: FeedFrame,
} satisfies Record<string, TObject>;

export type MessageName = keyof typeof messageSchemas;
export type MessageOf<N extends MessageName> = Static<(typeof messageSchemas)[N]>;

export type TradeTick = Static<typeof TradeTick>;
export type QuoteTick = Static<typeof QuoteTick>;
export type Bar = Static<typeof Bar>;
export type NewsItem = Static<typeof NewsItem>;
export type SentimentScore = Static<typeof SentimentScore>;
export type FeatureVector = Static<typeof FeatureVector>;
export type Signal = Static<typeof Signal>;
export type OrderIntent = Static<typeof OrderIntent>;
export type OrderIntentV1 = Static<typeof OrderIntentV1>;
export type OrderType = Static<typeof OrderType>;
export type TimeInForce = Static<typeof TimeInForce>;
export type ExitReason = Static<typeof ExitReason>;
export type Bracket = Static<typeof Bracket>;
export type AccountMode = Static<typeof AccountMode>;
export type RiskDecision = Static<typeof RiskDecision>;
export type OrderStatus = Static<typeof OrderStatus>;
export type Side = Static<typeof Side>;
export type OrderEvent = Static<typeof OrderEvent>;
export type Fill = Static<typeof Fill>;
export type Reconciliation = Static<typeof Reconciliation>;
export type ReconciliationDifference = Static<typeof ReconciliationDifference>;
export type Position = Static<typeof Position>;
export type PortfolioSnapshot = Static<typeof PortfolioSnapshot>;
export type Alert = Static<typeof Alert>;
export type ControlCommand = Static<typeof ControlCommand>;
export type ControlReply = Static<typeof ControlReply>;
export type DeadLetter = Static<typeof DeadLetter>;
export type FeedFrame = Static<typeof FeedFrame>;

/** Schema tag carried in every message body, e.g. `trade_tick.v1`. */
export function schemaTagOf(name: MessageName): string {
  return messageSchemas[name].properties.schema.const;
}
