// Crypto exchanges through ccxt (its WebSocket classes, ccxt.pro, and REST in one client): any ccxt
// exchange by id, provider `ccxt:<exchange id>`. Binance is the one tested (against the loopback
// fixture in test/support/loopback/binance.ts).
//
// Channels:
// - trades: `watchTrades` per symbol (Binance: the `<symbol>@trade` stream, one frame per trade with
//   the exchange trade id). Backfill on Binance pages `GET /api/v3/historicalTrades` forward by
//   `fromId`: it returns the same trade ids as the `@trade` stream, so a trade seen live and again in
//   the backfill maps to one event id and the stream's duplicate window drops the second. (ccxt's
//   default, `aggTrades`, carries aggregate ids that never match the live ids.) ccxt asks for an API
//   key on historicalTrades, so a Binance trade backfill needs `credentials.apiKey` (a key with no
//   permissions will do). Without `afterId`, the first trade id at `fromMs` comes from one public
//   `aggTrades` call (its `f`, first trade id). Other exchanges page `fetchTrades` forward by `since`.
// - quotes: `watchBidsAsks` (Binance: `<symbol>@bookTicker`). ccxt hands over the latest top of book
//   per symbol each time it is read, so quotes arriving between two reads are conflated to the last.
//   Binance spot's bookTicker frame has no exchange time: ts_event is then the receive time. There is
//   no REST history of top of book, so quotes are not backfilled.
// - bars: 1-minute bars (interval "1m"), `watchOHLCV(symbol, '1m')` (Binance: `<symbol>@kline_1m`). A
//   bar is published once closed: Binance's kline frame says so (`k.x`), taken off the socket as
//   received like trades; on other exchanges a candle is handed over when a later one starts.
//   Backfill pages `fetchOHLCV` forward by open time (Binance: GET /api/v3/klines). ts_event is the
//   close (open + 1 min); the id keys on the open time, so a bar seen live and backfilled is one event.
//
// Binance-family live trades skip ccxt's parse: a `trade` frame is taken off the socket as received and
// handed over as `{ symbol, frame }` (the unified symbol, the exchange's own frame), so the feed keeps
// (and records) Binance's own frames and does not pay for ccxt's per-trade structures, most of the
// feed's CPU. ccxt still sends the SUBSCRIBE (watchTrades); that watch then never resolves and ends
// only when ccxt rejects it on close, which is how the pump sees the connection end. decode maps the
// raw frame and ccxt's unified trade (REST backfill, other exchanges) to the same trade_tick.
//
// A frame ccxt fails to parse (its handler throws) is handed over as `{ unparsed, error }` so the
// FeedActor dead-letters it, instead of ccxt rejecting every pending watch with that error.
import ccxt, { type Exchange, type OHLCV } from 'ccxt';
import type { Clock } from '../../../core/clock.ts';
import type { JsonValue } from '../../../schemas/jobs.ts';
import {
  type Bar,
  EARLIEST_MARKET_TIME_MS,
  LATEST_TIME_MS,
  type QuoteTick,
  type TradeTick,
} from '../../../schemas/messages.ts';
import {
  type BackfillRequest,
  type FeedAdapter,
  FeedAuthError,
  type FeedChannel,
  FeedSubscriptionError,
  type FeedSubscriptionRequest,
  type FrameDecoding,
  feedEventId,
  type RawFrame,
} from '../adapter.ts';

export interface CcxtFeedAdapterOptions {
  /** ccxt exchange id, e.g. `binance`. */
  readonly exchange: string;
  /** Receiving clock: every frame's receivedAt. */
  readonly clock: Clock;
  /** Public market data needs none; Binance's trade backfill (historicalTrades) needs an API key. */
  readonly credentials?: { readonly apiKey: string; readonly secret?: string };
  /**
   * Where the exchange lives; tests point these at loopback. `rest` replaces `urls.api.public`, `ws`
   * replaces `urls.api.ws.spot` (the keys Binance-family exchanges use in ccxt).
   */
  readonly urls?: { readonly rest?: string; readonly ws?: string };
  /** Trades per backfill request; Binance allows 1,000. */
  readonly backfillPageSize?: number;
  /** How long subscribe() waits for the exchange to confirm its subscriptions; default 5 s. */
  readonly subscribeTimeoutMs?: number;
  /** Longest wait after an HTTP 429 without Retry-After (the wait doubles from 1 s up to this). */
  readonly maxRateLimitWaitMs?: number;
}

type ExchangeConstructor = new (config: Record<string, unknown>) => Exchange;
type JsonObject = { readonly [key: string]: JsonValue };

/** A unified ccxt symbol (`BTC/USDT`, or `BTC/USDT:USDT` for a contract); ccxt falls back to the raw id for unknown markets. */
const UNIFIED_SYMBOL = /^[A-Z0-9]{1,24}\/[A-Z0-9]{1,24}(:[A-Z0-9]{1,24})?$/;
const MAX_ID_LENGTH = 64;
/** The one bar length offered: ccxt's timeframe, Binance's kline interval and bar.v1's interval. */
const BAR_INTERVAL = '1m';
const BAR_MS = 60_000;
/** Binance stream event -> the channel whose frames skip ccxt's parse. */
const RAW_EVENTS: ReadonlyMap<string, FeedChannel> = new Map([
  ['trade', 'trades'],
  ['kline', 'bars'],
]);

export class CcxtFeedAdapter implements FeedAdapter {
  readonly provider: string;
  readonly channels: readonly FeedChannel[] = ['trades', 'quotes', 'bars'];
  private readonly exchange: Exchange;
  private readonly venue: string;
  private generation = 0;
  private ended: ((reason: string) => void) | undefined;
  private gone: Promise<string> = Promise.resolve('not connected');
  private onFrame: ((frame: RawFrame) => void) | undefined;
  private firstChannel: FeedChannel = 'trades';
  /** Per raw channel (trades, bars): Binance market id -> unified symbol of the subscribed streams. */
  private rawSymbols = new Map<FeedChannel, Map<string, string>>();
  /** Counts down the subscriptions not yet confirmed live; see subscribe(). */
  private live: () => void = () => undefined;

  constructor(private readonly options: CcxtFeedAdapterOptions) {
    this.venue = options.exchange;
    this.provider = `ccxt:${options.exchange}`;
    const Pro = (ccxt.pro as unknown as Record<string, ExchangeConstructor | undefined>)[options.exchange];
    if (!Pro) throw new Error(`ccxt has no WebSocket exchange "${options.exchange}"`);
    const adapter = this;
    // ccxt's client rejects every pending watch when a frame handler throws; catching it here keeps
    // the stream going and hands the frame to the FeedActor's dead letters instead.
    class Guarded extends Pro {
      override handleMessage(client: unknown, message: unknown): void {
        const refused = adapter.refusal(message);
        if (refused !== undefined) {
          adapter.unparsed(message, new Error(refused));
          return;
        }
        if (adapter.rawFrame(message)) return;
        try {
          super.handleMessage(client, message);
        } catch (error) {
          adapter.unparsed(message, error);
        }
        if (isSubscriptionAck(message)) adapter.live();
      }
    }
    this.exchange = new Guarded({
      enableRateLimit: true,
      apiKey: options.credentials?.apiKey,
      secret: options.credentials?.secret,
      options: {
        defaultType: 'spot',
        // Only the spot market list (Binance: GET /api/v3/exchangeInfo); no private currency or margin calls.
        fetchMarkets: { types: ['spot'] },
        fetchCurrencies: false,
        fetchMargins: false,
        // ccxt keeps trades in a ring between two reads; room for a burst of a busy market.
        tradesLimit: 20_000,
        watchTrades: { name: 'trade' },
      },
    });
    // The FeedActor owns reconnecting (capped, jittered backoff); ccxt's own redial delay would add to it.
    const ws = (this.exchange.options.ws ?? {}) as Record<string, unknown>;
    this.exchange.options.ws = { ...ws, backoff: { base: 0, max: 0 } };
    const api = this.exchange.urls.api as Record<string, unknown> & { ws?: Record<string, unknown> };
    if (options.urls?.rest) api.public = options.urls.rest;
    if (options.urls?.ws && api.ws) api.ws.spot = options.urls.ws;
  }

  async connect(): Promise<void> {
    this.generation++;
    this.gone = new Promise((resolve) => {
      this.ended = resolve;
    });
    // ccxt opens a plain ws:// socket (a loopback or private endpoint) only through an http agent it loads first.
    if (this.options.urls?.ws?.startsWith('ws://')) await this.exchange.loadHttpProxyAgent();
    await this.exchange.loadMarkets();
  }

  async authenticate(): Promise<void> {
    // Public market data: nothing to prove. A key given for the backfill is checked when it is used.
  }

  async subscribe(request: FeedSubscriptionRequest): Promise<void> {
    for (const symbol of request.symbols) {
      if (!this.exchange.markets?.[symbol])
        throw new FeedSubscriptionError(this.provider, `unknown symbol ${symbol}`);
    }
    for (const channel of request.channels) {
      if (!this.channels.includes(channel)) {
        throw new FeedSubscriptionError(this.provider, `channel ${channel} is not offered`);
      }
    }
    this.onFrame = request.onFrame;
    this.rawSymbols = new Map();
    if (this.exchange.id.startsWith('binance')) {
      for (const channel of request.channels) {
        if (channel !== 'trades' && channel !== 'bars') continue;
        const symbols = new Map<string, string>();
        for (const symbol of request.symbols) {
          const marketId = this.exchange.market(symbol).id;
          if (marketId) symbols.set(marketId, symbol);
        }
        this.rawSymbols.set(channel, symbols);
      }
    }
    this.firstChannel = request.channels[0] ?? 'trades';
    const generation = this.generation;
    // Resolve once the exchange confirms every subscription (Binance answers {"result":null,"id":n}),
    // or a frame shows one live: the FeedActor reads the gap over REST after this, so a trade printed
    // before the stream is live must already be visible to that read.
    let pending = request.symbols.length * request.channels.length;
    const confirmed = new Promise<void>((resolve) => {
      this.live = () => {
        if (--pending <= 0) resolve();
      };
    });
    for (const symbol of request.symbols) {
      for (const channel of request.channels) void this.pump(generation, channel, symbol, request.onFrame);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      confirmed,
      this.gone,
      // An exchange whose acknowledgement ccxt's frames do not show: go on after a while.
      new Promise((resolve) => {
        timer = setTimeout(resolve, this.options.subscribeTimeoutMs ?? 5_000);
      }),
    ]);
    clearTimeout(timer);
    this.live = () => undefined;
  }

  disconnected(): Promise<string> {
    return this.gone;
  }

  async close(): Promise<void> {
    await this.exchange.close();
    this.end('closed by client');
  }

  async *backfill(request: BackfillRequest): AsyncIterable<RawFrame> {
    if (request.channel === 'bars') yield* this.barsSince(request);
    if (request.channel !== 'trades') return; // no REST history of top of book
    if (this.exchange.id.startsWith('binance')) yield* this.binanceTrades(request);
    else yield* this.tradesSince(request);
  }

  decode(frame: RawFrame): FrameDecoding {
    const payload = frame.payload;
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      return { ok: false, reason: 'frame is not an object' };
    }
    const item = payload as JsonObject;
    if ('unparsed' in item)
      return { ok: false, reason: `ccxt could not parse the frame: ${String(item.error)}` };
    const symbol = item.symbol;
    if (typeof symbol !== 'string' || !UNIFIED_SYMBOL.test(symbol)) {
      return { ok: false, reason: `unknown symbol ${JSON.stringify(symbol)?.slice(0, 80)}` };
    }
    if (frame.channel === 'trades') return this.decodeTrade(item, symbol, frame.receivedAt);
    if (frame.channel === 'quotes') return this.decodeQuote(item, symbol, frame.receivedAt);
    if (frame.channel === 'bars') return this.decodeBar(item, symbol, frame.receivedAt);
    return { ok: false, reason: `channel ${frame.channel} is not offered by ${this.provider}` };
  }

  /** One mapping for both forms of a trade: Binance's own frame (live) and ccxt's unified trade. */
  private decodeTrade(item: JsonObject, symbol: string, receivedAt: number): FrameDecoding {
    const fields = 'frame' in item ? binanceTradeFields(item.frame) : unifiedTradeFields(item);
    if (typeof fields === 'string') return { ok: false, reason: fields };
    const { id, aggressor } = fields;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
      return { ok: false, reason: 'trade id missing or malformed' };
    }
    const time = marketTime(fields.time);
    if (time === undefined) return { ok: false, reason: 'trade timestamp missing or out of range' };
    const price = positive(fields.price);
    if (price === undefined)
      return { ok: false, reason: 'trade price missing, not a number or not positive' };
    const size = nonNegative(fields.size);
    if (size === undefined) return { ok: false, reason: 'trade amount missing, not a number or negative' };
    const tick: TradeTick = {
      schema: 'trade_tick.v1',
      id: feedEventId(this.provider, 'trade', symbol, id),
      ts_event: time,
      ts_init: receivedAt,
      symbol,
      price,
      size,
      aggressor,
      trade_id: id,
      venue: this.venue,
    };
    return { ok: true, events: [tick] };
  }

  private decodeQuote(item: JsonObject, symbol: string, receivedAt: number): FrameDecoding {
    // Binance spot's bookTicker has no time; its order book update id `u` keys the quote.
    const time =
      item.timestamp === null || item.timestamp === undefined ? receivedAt : marketTime(item.timestamp);
    if (time === undefined) return { ok: false, reason: 'quote timestamp out of range' };
    const bid = positive(item.bid);
    const ask = positive(item.ask);
    if (bid === undefined || ask === undefined)
      return { ok: false, reason: 'quote bid or ask missing or not positive' };
    const bidSize = nonNegative(item.bidVolume);
    const askSize = nonNegative(item.askVolume);
    if (bidSize === undefined || askSize === undefined)
      return { ok: false, reason: 'quote size missing or negative' };
    const info = item.info;
    const update =
      info !== null && typeof info === 'object' && !Array.isArray(info) ? (info as JsonObject).u : undefined;
    const key =
      typeof update === 'number' || (typeof update === 'string' && update.length <= MAX_ID_LENGTH)
        ? update
        : time;
    const quote: QuoteTick = {
      schema: 'quote_tick.v1',
      id: feedEventId(this.provider, 'quote', symbol, key),
      ts_event: time,
      ts_init: receivedAt,
      symbol,
      bid,
      ask,
      bid_size: bidSize,
      ask_size: askSize,
      venue: this.venue,
    };
    return { ok: true, events: [quote] };
  }

  /** One mapping for both forms of a bar: Binance's kline frame (live) and ccxt's OHLCV array. */
  private decodeBar(item: JsonObject, symbol: string, receivedAt: number): FrameDecoding {
    const fields = 'frame' in item ? binanceKlineFields(item.frame) : ohlcvFields(item.ohlcv);
    if (typeof fields === 'string') return { ok: false, reason: fields };
    if (!fields.closed) return { ok: true, events: [] }; // the candle is still open: its close comes later
    const openTime = marketTime(fields.openTime);
    if (openTime === undefined || openTime % BAR_MS !== 0 || openTime + BAR_MS > LATEST_TIME_MS) {
      return { ok: false, reason: 'bar open time missing, out of range or not on a minute' };
    }
    const [open, high, low, close] = fields.prices.map(positive);
    if (open === undefined || high === undefined || low === undefined || close === undefined) {
      return { ok: false, reason: 'bar price missing, not a number or not positive' };
    }
    if (high < low || high < Math.max(open, close) || low > Math.min(open, close)) {
      return { ok: false, reason: 'bar high/low do not bound its open and close' };
    }
    const volume = nonNegative(fields.volume);
    if (volume === undefined) return { ok: false, reason: 'bar volume missing, not a number or negative' };
    const bar: Bar = {
      schema: 'bar.v1',
      id: feedEventId(this.provider, 'bar', symbol, openTime),
      ts_event: openTime + BAR_MS,
      ts_init: receivedAt,
      symbol,
      interval: BAR_INTERVAL,
      open,
      high,
      low,
      close,
      volume,
    };
    return { ok: true, events: [bar] };
  }

  /** One watch loop: reads until the connection ends, then ends the whole connection (all loops). */
  private async pump(
    generation: number,
    channel: FeedChannel,
    symbol: string,
    onFrame: (frame: RawFrame) => void,
  ): Promise<void> {
    // Bars on exchanges without a closed flag: the latest candle, handed over once a later one starts.
    const openCandle: { candle?: OHLCV } = {};
    for (;;) {
      let items: readonly object[];
      try {
        items =
          channel === 'trades'
            ? await this.exchange.watchTrades(symbol)
            : channel === 'bars'
              ? closedCandles(openCandle, await this.exchange.watchOHLCV(symbol, BAR_INTERVAL))
              : Object.values(await this.exchange.watchBidsAsks([symbol]));
      } catch (error) {
        if (generation !== this.generation) return;
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        // One socket gone means the feed is: close the others so a reconnect starts clean.
        await this.exchange.close().catch(() => undefined);
        this.end(reason);
        return;
      }
      if (generation !== this.generation) return;
      const receivedAt = this.options.clock.now();
      this.live();
      for (const item of items) {
        const payload = channel === 'bars' ? { symbol, ohlcv: toJson(item) } : toJson(item);
        onFrame({ payload, channel, receivedAt, origin: 'stream' });
      }
      // Handed over: emptying ccxt's trade cache keeps it from filling, where each new trade would
      // shift the whole cache (ccxt's ArrayCache drops its oldest entry by moving every other one).
      if (channel === 'trades') this.exchange.trades[symbol]?.clear();
    }
  }

  private end(reason: string): void {
    this.ended?.(reason);
    this.ended = undefined;
  }

  /**
   * Frames ccxt would drop without a word: text that is not JSON (ccxt logs it and passes it on), and
   * a Binance event for a market not loaded (ccxt files it under a symbol nobody watches).
   */
  private refusal(message: unknown): string | undefined {
    if (typeof message === 'string') return 'frame is not JSON';
    if (!this.exchange.id.startsWith('binance') || typeof message !== 'object' || message === null)
      return undefined;
    const { e: event, s: marketId } = message as { e?: unknown; s?: unknown };
    if (
      typeof event === 'string' &&
      typeof marketId === 'string' &&
      !this.exchange.markets_by_id?.[marketId]
    ) {
      return `unknown market id ${marketId.slice(0, 40)}`;
    }
    return undefined;
  }

  /**
   * A Binance `trade` or `kline` frame of a subscribed market, handed over as received instead of
   * through ccxt's parse (see the header). False for every other frame, which ccxt handles.
   */
  private rawFrame(message: unknown): boolean {
    if (this.rawSymbols.size === 0 || typeof message !== 'object' || message === null) return false;
    const { e: event, s: marketId } = message as { e?: unknown; s?: unknown };
    const channel = typeof event === 'string' ? RAW_EVENTS.get(event) : undefined;
    const symbols = channel === undefined ? undefined : this.rawSymbols.get(channel);
    if (channel === undefined || symbols === undefined) return false;
    const symbol = typeof marketId === 'string' ? symbols.get(marketId) : undefined;
    if (symbol === undefined) {
      this.unparsed(
        message,
        new Error(`${event} for a market not subscribed: ${String(marketId).slice(0, 40)}`),
      );
      return true;
    }
    this.live();
    this.onFrame?.({
      payload: { symbol, frame: message as JsonValue },
      channel,
      receivedAt: this.options.clock.now(),
      origin: 'stream',
    });
    return true;
  }

  /** Called from ccxt's message handler when it threw on a frame, or for a frame refusal() names. */
  private unparsed(message: unknown, error: unknown): void {
    this.onFrame?.({
      payload: {
        unparsed: typeof message === 'string' ? message.slice(0, 4096) : toJson(message),
        error: error instanceof Error ? error.message.slice(0, 500) : String(error),
      },
      channel: this.firstChannel,
      receivedAt: this.options.clock.now(),
      origin: 'stream',
    });
  }

  /** Binance: historicalTrades forward by trade id, from afterId + 1 or the first trade at fromMs. */
  private async *binanceTrades(request: BackfillRequest): AsyncIterable<RawFrame> {
    if (!this.exchange.apiKey) {
      throw new FeedAuthError(
        this.provider,
        'trade backfill (GET /api/v3/historicalTrades) needs an API key',
      );
    }
    let fromId =
      request.afterId === undefined ? await this.firstTradeIdAt(request) : Number(request.afterId) + 1;
    const limit = this.options.backfillPageSize ?? 1000;
    while (fromId !== undefined) {
      const from = fromId;
      const page = await this.rateLimited(() =>
        this.exchange.fetchTrades(request.symbol, undefined, limit, {
          fetchTradesMethod: 'publicGetHistoricalTrades',
          fromId: from,
        }),
      );
      const receivedAt = this.options.clock.now();
      for (const trade of page) {
        if ((trade.timestamp ?? 0) >= request.toMs) return;
        yield { payload: toJson(trade), channel: 'trades', receivedAt, origin: 'backfill' };
      }
      const last = page[page.length - 1];
      fromId = page.length < limit || !last ? undefined : Number(last.id) + 1;
    }
  }

  /** The id of the first trade at or after fromMs (public aggTrades: its `f`), an hour window at a time. */
  private async firstTradeIdAt(request: BackfillRequest): Promise<number | undefined> {
    for (let start = request.fromMs; start < request.toMs; start += 3_600_000) {
      const until = Math.min(request.toMs, start + 3_600_000) - 1;
      const page = await this.rateLimited(() =>
        this.exchange.fetchTrades(request.symbol, start, 1, {
          fetchTradesMethod: 'publicGetAggTrades',
          until,
        }),
      );
      const first = page[0]?.info as { f?: unknown } | undefined;
      if (first?.f !== undefined) return Number(first.f);
    }
    return undefined;
  }

  /** fetchOHLCV forward by open time: the closed bars whose close is in [fromMs, toMs). */
  private async *barsSince(request: BackfillRequest): AsyncIterable<RawFrame> {
    const limit = this.options.backfillPageSize ?? 1000;
    let since = Math.max(0, request.fromMs - BAR_MS);
    const until = request.toMs - BAR_MS - 1;
    while (since <= until) {
      const from = since;
      const page = await this.rateLimited(() =>
        this.exchange.fetchOHLCV(request.symbol, BAR_INTERVAL, from, limit, { until }),
      );
      const receivedAt = this.options.clock.now();
      for (const candle of page) {
        const openTime = candle[0] ?? 0;
        // Open times only go forward (a page may repeat none); a candle not yet closed is not a bar.
        if (openTime < since || openTime > until || openTime + BAR_MS > receivedAt) continue;
        since = openTime + BAR_MS;
        yield {
          payload: { symbol: request.symbol, ohlcv: toJson(candle) },
          channel: 'bars',
          receivedAt,
          origin: 'backfill',
        };
      }
      if (page.length < limit || since === from) return;
    }
  }

  /** Other exchanges: fetchTrades forward by time; the duplicate window drops trades a page repeats. */
  private async *tradesSince(request: BackfillRequest): AsyncIterable<RawFrame> {
    const limit = this.options.backfillPageSize ?? 1000;
    let since = request.fromMs;
    const seen = new Set<string>(request.afterId === undefined ? [] : [request.afterId]);
    for (;;) {
      const from = since;
      const page = await this.rateLimited(() => this.exchange.fetchTrades(request.symbol, from, limit));
      const receivedAt = this.options.clock.now();
      let advanced = false;
      for (const trade of page) {
        if ((trade.timestamp ?? 0) >= request.toMs) return;
        if (trade.id !== undefined && seen.has(trade.id)) continue;
        if (trade.id !== undefined) seen.add(trade.id);
        if ((trade.timestamp ?? 0) > since) {
          since = trade.timestamp ?? since;
          advanced = true;
        }
        yield { payload: toJson(trade), channel: 'trades', receivedAt, origin: 'backfill' };
      }
      if (page.length < limit || !advanced) return;
    }
  }

  /** Runs a REST call, waiting out HTTP 429/418 (Retry-After when the exchange sends it) instead of failing. */
  private async rateLimited<T>(call: () => Promise<T>): Promise<T> {
    let backoffMs = 1_000;
    const maxWaitMs = this.options.maxRateLimitWaitMs ?? 60_000;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof ccxt.DDoSProtection || error instanceof ccxt.RateLimitExceeded)) throw error;
        const headers = (this.exchange.last_response_headers ?? {}) as Record<string, unknown>;
        const retryAfter = Number(headers['Retry-After']);
        const waitMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : backoffMs;
        backoffMs = Math.min(backoffMs * 2, maxWaitMs);
        await new Promise((resolve) => setTimeout(resolve, Math.min(waitMs, maxWaitMs)));
      }
    }
  }
}

interface TradeFields {
  readonly id: JsonValue | undefined;
  readonly time: JsonValue | undefined;
  readonly price: JsonValue | undefined;
  readonly size: JsonValue | undefined;
  readonly aggressor: TradeTick['aggressor'];
}

interface BarFields {
  readonly closed: boolean;
  readonly openTime: JsonValue | undefined;
  /** open, high, low, close */
  readonly prices: readonly [
    JsonValue | undefined,
    JsonValue | undefined,
    JsonValue | undefined,
    JsonValue | undefined,
  ];
  readonly volume: JsonValue | undefined;
}

/** ccxt's OHLCV array `[open time, open, high, low, close, volume]`; handed over only once closed. */
function ohlcvFields(ohlcv: JsonValue | undefined): BarFields | string {
  if (!Array.isArray(ohlcv) || ohlcv.length !== 6) return 'OHLCV is not an array of 6';
  const [openTime, open, high, low, close, volume] = ohlcv;
  return { closed: true, openTime, prices: [open, high, low, close], volume };
}

/**
 * Binance's `<symbol>@kline_1m` frame: `k` the candle, `t` open time, `o`/`h`/`l`/`c`/`v` decimal
 * strings, `x` true on the update that closes it.
 */
function binanceKlineFields(frame: JsonValue | undefined): BarFields | string {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return 'raw kline frame is not an object';
  }
  const kline = (frame as JsonObject).k;
  if (kline === null || typeof kline !== 'object' || Array.isArray(kline)) return 'kline (k) missing';
  const { t: openTime, i: interval, x: closed, o, h, l, c, v } = kline as JsonObject;
  if (interval !== BAR_INTERVAL) return `kline interval ${JSON.stringify(interval)?.slice(0, 20)} is not 1m`;
  if (typeof closed !== 'boolean') return 'kline closed flag (x) missing or not a boolean';
  return {
    closed,
    openTime,
    prices: [decimal(o), decimal(h), decimal(l), decimal(c)],
    volume: decimal(v),
  };
}

/** ccxt's candles of one read: those a later candle has closed (see pump); `state` keeps the latest. */
function closedCandles(state: { candle?: OHLCV }, candles: readonly OHLCV[]): OHLCV[] {
  const out: OHLCV[] = [];
  for (const candle of candles) {
    const latest = state.candle;
    if (latest !== undefined && (candle[0] ?? 0) > (latest[0] ?? 0)) out.push(latest);
    state.candle = candle;
  }
  return out;
}

/** ccxt's unified trade. */
function unifiedTradeFields(item: JsonObject): TradeFields {
  const side = item.side;
  return {
    id: item.id,
    time: item.timestamp,
    price: item.price,
    size: item.amount,
    aggressor: side === 'buy' || side === 'sell' ? side : 'unknown',
  };
}

/**
 * Binance's `<symbol>@trade` frame: `t` trade id, `T` trade time, `p`/`q` decimal strings, `m` true
 * when the buyer is the maker (the seller hit the bid: aggressor sell), read as ccxt's parseWsTrade does.
 */
function binanceTradeFields(frame: JsonValue | undefined): TradeFields | string {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return 'raw trade frame is not an object';
  }
  const { t: id, T: time, p: price, q: size, m: buyerIsMaker } = frame as JsonObject;
  if (typeof buyerIsMaker !== 'boolean') return 'trade maker flag (m) missing or not a boolean';
  return {
    id: typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? String(id) : undefined,
    time,
    price: decimal(price),
    size: decimal(size),
    aggressor: buyerIsMaker ? 'sell' : 'buy',
  };
}

const DECIMAL = /^\d{1,30}(\.\d{1,30})?$/;

/** A decimal string as Binance sends prices and sizes; anything else (a number, `-5`, `1e3`) is not one. */
function decimal(value: JsonValue | undefined): number | undefined {
  return typeof value === 'string' && DECIMAL.test(value) ? Number(value) : undefined;
}

/** A JSON-RPC style answer to a SUBSCRIBE (Binance: `{"result":null,"id":1}`). */
function isSubscriptionAck(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    'result' in message &&
    'id' in message &&
    !('e' in message)
  );
}

/**
 * ccxt structures hold `undefined` fields and may hold NaN; a frame is recorded as JSON, so it is made
 * JSON here, as JSON.stringify would (undefined keys dropped, in arrays null; NaN and Infinity null),
 * without the text round trip that cost a tenth of the feed's time in the bench.
 */
function toJson(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : toJson(item)));
  if (typeof value !== 'object') return null;
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined && typeof item !== 'function') out[key] = toJson(item);
  }
  return out;
}

function marketTime(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= EARLIEST_MARKET_TIME_MS &&
    value <= LATEST_TIME_MS
    ? value
    : undefined;
}

function positive(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function nonNegative(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
