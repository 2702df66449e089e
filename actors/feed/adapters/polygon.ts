// Polygon.io stocks (the company renamed itself Massive) through its official client,
// @massive.com/client-js: the client's websocket (`websocketClient(key, base).stocks()`, which sends
// the auth message itself once the socket opens) for T (trades), Q (quotes) and AM/A (minute/second
// aggregates), and its REST client for the backfill (v2 aggregates, v3 trades and quotes).
//
// Polygon sends JSON arrays of events. Each array item is handed over as one RawFrame, so one bad
// item is dead-lettered alone instead of taking its neighbours with it, and each frame maps to at most
// one event. REST results are handed over one per frame too, inside a small envelope that keeps the
// request's ticker and bar size: a REST aggregate carries neither.
import {
  type DefaultApi,
  GetStocksAggregatesSortEnum,
  GetStocksAggregatesTimespanEnum,
  GetStocksQuotesOrderEnum,
  GetStocksQuotesSortEnum,
  GetStocksTradesOrderEnum,
  GetStocksTradesSortEnum,
  restClient,
  websocketClient,
} from '@massive.com/client-js';
import type { Clock } from '../../../core/clock.ts';
import type { JsonValue } from '../../../schemas/jobs.ts';
import type { MessageName } from '../../../schemas/messages.ts';
import { validateMessage } from '../../../schemas/validate.ts';
import {
  type BackfillRequest,
  type FeedAdapter,
  FeedAuthError,
  type FeedChannel,
  type FeedEvent,
  FeedSubscriptionError,
  type FeedSubscriptionRequest,
  type FrameDecoding,
  feedEventId,
  type RawFrame,
} from '../adapter.ts';

const PROVIDER = 'polygon';
const MINUTE_MS = 60_000;
const SECOND_MS = 1_000;
/** Polygon's largest page (`limit`) of aggregates, trades and quotes. */
const MAX_PAGE = 50_000;

export interface PolygonFeedOptions {
  /** Polygon API key, from the caller (environment or file); never logged, never in an error. */
  readonly apiKey: string;
  /** Receiving clock: receivedAt of every frame. */
  readonly clock: Clock;
  /** REST base URL; the client's default (https://api.massive.com) when absent. */
  readonly restBase?: string;
  /** WebSocket base URL; the client appends /stocks. The client's default (wss://socket.massive.com) when absent. */
  readonly wsBase?: string;
  /** The bars channel: minute aggregates (AM, default) or second aggregates (A). */
  readonly barInterval?: '1m' | '1s';
  /** How long to wait for the auth and subscription answers (ms, default 10 s). */
  readonly answerTimeoutMs?: number;
  /**
   * Span of one REST call of the backfill (ms). The client follows `next_url` itself and holds every
   * page of a call in memory, so a call is kept to a bounded span. Default: 50,000 bars (one page of
   * Polygon's largest) and one minute of trades or quotes.
   */
  readonly backfillWindowMs?: { readonly bars?: number; readonly ticks?: number };
  /** Wait after an HTTP 429 without Retry-After, doubled up to `maxWaitMs` (defaults 1 s and 60 s). */
  readonly rateLimit?: { readonly initialWaitMs?: number; readonly maxWaitMs?: number };
}

/** What the adapter uses of the client's socket (the `websocket` package's W3C WebSocket). */
interface ClientSocket {
  send(data: string): void;
  close(): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
}

type JsonObject = { readonly [key: string]: JsonValue };

/** Status events the connection waits on: auth, then one acknowledgement per subscription. */
interface StatusWaiter {
  readonly settle: (status: string, message: string) => void;
  readonly fail: (error: Error) => void;
}

/** One socket: from connect to its close. A reconnect is a new Connection. */
class Connection {
  readonly closed: Promise<string>;
  private readonly waiters = new Set<StatusWaiter>();
  private readonly pending: { status: string; message: string }[] = [];
  private onFrame: ((item: JsonValue, receivedAt: number) => void) | undefined;
  private closeReason: string | undefined;

  constructor(
    readonly socket: ClientSocket,
    private readonly clock: Clock,
  ) {
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (event) => {
        this.closeReason = `closed: ${event.code}${event.reason ? ` ${event.reason}` : ''}`;
        for (const waiter of this.waiters)
          waiter.fail(new Error(`${PROVIDER}: connection ${this.closeReason}`));
        this.waiters.clear();
        resolve(this.closeReason);
      });
    });
    socket.addEventListener('message', (event) => this.receive(event.data));
  }

  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Resolves once the socket is open; rejects if it closes first. */
  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.addEventListener('open', () => resolve());
      void this.closed.then((reason) => reject(new Error(`${PROVIDER}: cannot connect: ${reason}`)));
    });
  }

  /** From here every item goes to `onFrame`, status items included (they decode to no events). */
  stream(onFrame: (item: JsonValue, receivedAt: number) => void): void {
    this.onFrame = onFrame;
  }

  /**
   * Waits for status events until `settle` says it is done (true) or throws; status events that came
   * before the wait began (the client authenticates on open, maybe before authenticate() is called)
   * are replayed to it first.
   */
  awaitStatus(
    settle: (status: string, message: string) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closeReason !== undefined) {
        reject(new Error(`${PROVIDER}: connection ${this.closeReason}`));
        return;
      }
      const timer = setTimeout(
        () => finish(new Error(`${PROVIDER}: no ${what} answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (error) reject(error);
        else resolve();
      };
      const waiter: StatusWaiter = {
        settle: (status, message) => {
          try {
            if (settle(status, message)) finish();
          } catch (error) {
            finish(error as Error);
          }
        },
        fail: finish,
      };
      this.waiters.add(waiter);
      while (this.pending.length > 0 && this.waiters.has(waiter)) {
        const next = this.pending.shift() as { status: string; message: string };
        waiter.settle(next.status, next.message);
      }
    });
  }

  private receive(data: unknown): void {
    const receivedAt = this.clock.now();
    const text = typeof data === 'string' ? data : '';
    let parsed: JsonValue;
    try {
      parsed = JSON.parse(text) as JsonValue;
    } catch {
      // Unreadable text goes on as the text itself, so it is dead-lettered with its reason.
      parsed = text;
    }
    const items = Array.isArray(parsed) ? (parsed as readonly JsonValue[]) : [parsed];
    for (const item of items) {
      if (isObject(item) && item.ev === 'status') this.status(item);
      this.onFrame?.(item, receivedAt);
    }
  }

  private status(item: JsonObject): void {
    const status = typeof item.status === 'string' ? item.status : '';
    const message = typeof item.message === 'string' ? item.message : '';
    if (status === 'connected') return;
    if (this.waiters.size === 0) {
      if (this.onFrame === undefined) this.pending.push({ status, message });
      return;
    }
    for (const waiter of this.waiters) waiter.settle(status, message);
  }
}

export class PolygonFeedAdapter implements FeedAdapter {
  readonly provider = PROVIDER;
  readonly channels: readonly FeedChannel[] = ['trades', 'quotes', 'bars'];
  // Private fields (#): the key is in both, and neither may show when the adapter is logged or serialised.
  readonly #options: PolygonFeedOptions;
  readonly #rest: DefaultApi;
  private readonly barMs: number;
  private readonly answerTimeoutMs: number;
  private readonly windowMs: { readonly bars: number; readonly ticks: number };
  private readonly initialWaitMs: number;
  private readonly maxWaitMs: number;
  private connection: Connection | undefined;

  constructor(options: PolygonFeedOptions) {
    this.#options = options;
    // pagination: the client follows next_url (appending the key) and returns every page in one answer.
    this.#rest = restClient(options.apiKey, options.restBase, { pagination: true });
    this.barMs = options.barInterval === '1s' ? SECOND_MS : MINUTE_MS;
    this.answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
    this.windowMs = {
      bars: options.backfillWindowMs?.bars ?? MAX_PAGE * this.barMs,
      ticks: options.backfillWindowMs?.ticks ?? MINUTE_MS,
    };
    this.initialWaitMs = options.rateLimit?.initialWaitMs ?? 1_000;
    this.maxWaitMs = options.rateLimit?.maxWaitMs ?? 60_000;
  }

  async connect(): Promise<void> {
    if (this.connection && !this.connection.isClosed) throw new Error(`${PROVIDER}: already connected`);
    // The client's socket type comes from @types/websocket, which is not installed: state what is used.
    const socket = websocketClient(
      this.#options.apiKey,
      this.#options.wsBase,
    ).stocks() as unknown as ClientSocket;
    // The client throws nothing on a failed connect: the socket fires error, then close.
    socket.addEventListener('error', () => {});
    const connection = new Connection(socket, this.#options.clock);
    this.connection = connection;
    await connection.opened();
  }

  async authenticate(): Promise<void> {
    await this.current().awaitStatus(
      (status, message) => {
        if (status === 'auth_success') return true;
        if (status === 'auth_failed') throw new FeedAuthError(PROVIDER, message || 'auth_failed');
        return false;
      },
      this.answerTimeoutMs,
      'auth',
    );
  }

  async subscribe(request: FeedSubscriptionRequest): Promise<void> {
    const connection = this.current();
    const params = subscriptionParams(request, this.barMs === SECOND_MS ? 'A' : 'AM');
    const fallback = request.channels[0] ?? 'trades';
    connection.stream((item, receivedAt) =>
      request.onFrame({ payload: item, channel: channelOf(item) ?? fallback, receivedAt, origin: 'stream' }),
    );
    const waiting = new Set(params);
    const acknowledged = connection.awaitStatus(
      (status, message) => {
        if (status === 'error') throw new FeedSubscriptionError(PROVIDER, message || 'error');
        if (status !== 'success' || !message.startsWith('subscribed to: ')) return false;
        waiting.delete(message.slice('subscribed to: '.length));
        return waiting.size === 0;
      },
      this.answerTimeoutMs,
      'subscription',
    );
    connection.socket.send(JSON.stringify({ action: 'subscribe', params: params.join(',') }));
    await acknowledged;
  }

  disconnected(): Promise<string> {
    return this.connection ? this.connection.closed : Promise.resolve('not connected');
  }

  /**
   * Bars from v2 aggregates, trades and quotes from v3, in windows of `backfillWindowMs`, oldest first.
   * Each result becomes one frame in an envelope with the ticker (and bar size) of its request.
   */
  async *backfill(request: BackfillRequest): AsyncIterable<RawFrame> {
    const { channel } = request;
    if (channel === 'news') throw new FeedSubscriptionError(PROVIDER, 'no news channel');
    const step = channel === 'bars' ? this.windowMs.bars : this.windowMs.ticks;
    for (let start = request.fromMs; start < request.toMs; start += step) {
      const end = Math.min(start + step, request.toMs);
      const envelopes =
        channel === 'bars'
          ? await this.barWindow(request.symbol, start, end)
          : await this.tickWindow(request.symbol, channel, start, end);
      const receivedAt = this.#options.clock.now();
      for (const payload of envelopes) yield { payload, channel, receivedAt, origin: 'backfill' };
    }
  }

  decode(frame: RawFrame): FrameDecoding {
    return decodePolygon(frame);
  }

  async close(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    if (!connection.isClosed) connection.socket.close();
    await connection.closed;
  }

  private current(): Connection {
    if (!this.connection || this.connection.isClosed) throw new Error(`${PROVIDER}: not connected`);
    return this.connection;
  }

  /** Bars whose close (ts_event) is in [fromMs, toMs): Polygon's from/to select by bar start, inclusive. */
  private async barWindow(symbol: string, fromMs: number, toMs: number): Promise<JsonObject[]> {
    const multiplier = 1;
    const timespan =
      this.barMs === SECOND_MS
        ? GetStocksAggregatesTimespanEnum.Second
        : GetStocksAggregatesTimespanEnum.Minute;
    const answer = await this.call(`aggregates ${symbol}`, () =>
      this.#rest.getStocksAggregates({
        stocksTicker: symbol,
        multiplier,
        timespan,
        from: String(fromMs - this.barMs),
        to: String(toMs - this.barMs - 1),
        // The stream's aggregates are not split-adjusted; the backfill must match them.
        adjusted: false,
        sort: GetStocksAggregatesSortEnum.Asc,
        limit: MAX_PAGE,
      }),
    );
    return sortedResults(answer, (result) => [numberOr(result.t)])
      .filter((result) => {
        const close = numberOr(result.t) + this.barMs;
        return close >= fromMs && close < toMs;
      })
      .map((result) => ({ rest: 'aggs', ticker: symbol, multiplier, timespan, result }));
  }

  private async tickWindow(
    symbol: string,
    channel: 'trades' | 'quotes',
    fromMs: number,
    toMs: number,
  ): Promise<JsonObject[]> {
    // v3 timestamps are nanoseconds; ms * 1e6 passes 2^53, so it is written as text.
    const span = {
      stockTicker: symbol,
      timestampGte: `${fromMs}000000`,
      timestampLt: `${toMs}000000`,
      limit: MAX_PAGE,
    };
    const answer = await this.call<unknown>(`${channel} ${symbol}`, () =>
      channel === 'trades'
        ? this.#rest.getStocksTrades({
            ...span,
            order: GetStocksTradesOrderEnum.Asc,
            sort: GetStocksTradesSortEnum.Timestamp,
          })
        : this.#rest.getStocksQuotes({
            ...span,
            order: GetStocksQuotesOrderEnum.Asc,
            sort: GetStocksQuotesSortEnum.Timestamp,
          }),
    );
    return sortedResults(answer, (result) => [
      numberOr(result.sip_timestamp),
      numberOr(result.sequence_number),
    ]).map((result) => ({ rest: channel, ticker: symbol, result }));
  }

  /**
   * One REST call. HTTP 429 is waited out (Retry-After, else a doubling wait) and retried, never
   * failed; 401/403 are a FeedAuthError. Errors name the call but never carry the URL, which holds the
   * key as a query parameter.
   */
  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    let waitMs = this.initialWaitMs;
    for (;;) {
      try {
        return await request();
      } catch (error) {
        const response = (error as { response?: { status?: unknown; headers?: Record<string, unknown> } })
          .response;
        const status = typeof response?.status === 'number' ? response.status : undefined;
        if (status === 429) {
          const retryAfter = Number(response?.headers?.['retry-after']);
          await sleep(
            Number.isFinite(retryAfter) && retryAfter >= 0
              ? Math.min(retryAfter * 1000, this.maxWaitMs)
              : waitMs,
          );
          waitMs = Math.min(waitMs * 2, this.maxWaitMs);
          continue;
        }
        if (status === 401 || status === 403)
          throw new FeedAuthError(PROVIDER, `REST ${what}: HTTP ${status}`);
        const reason = status !== undefined ? `HTTP ${status}` : String((error as Error).message);
        throw new Error(
          `${PROVIDER}: REST ${what} failed: ${reason.split(this.#options.apiKey).join('***')}`,
        );
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The results of an answer, oldest first. The client's pagination puts each later page BEFORE the
 * page that linked to it, so the merged answer is re-sorted by the given key.
 */
function sortedResults(answer: unknown, key: (result: JsonObject) => number[]): JsonObject[] {
  const results = (answer as { results?: unknown } | undefined)?.results;
  if (!Array.isArray(results)) return [];
  const keyed = (results as JsonValue[]).filter(isObject).map((result) => ({ result, key: key(result) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) {
      const difference = (a.key[i] ?? 0) - (b.key[i] ?? 0);
      if (difference !== 0) return difference;
    }
    return 0;
  });
  return keyed.map(({ result }) => result);
}

function numberOr(value: JsonValue | undefined, fallback = Number.NaN): number {
  return typeof value === 'number' ? value : fallback;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Polygon's channel prefixes for a subscription: T.SPY, Q.SPY, AM.SPY (or A.SPY for second bars). */
function subscriptionParams(request: FeedSubscriptionRequest, barPrefix: 'AM' | 'A'): string[] {
  const prefixes: Record<FeedChannel, string | undefined> = {
    trades: 'T',
    quotes: 'Q',
    bars: barPrefix,
    news: undefined,
  };
  const params: string[] = [];
  for (const channel of request.channels) {
    const prefix = prefixes[channel];
    if (prefix === undefined)
      throw new FeedSubscriptionError(PROVIDER, `no ${channel} channel on the stocks socket`);
    for (const symbol of request.symbols) params.push(`${prefix}.${symbol}`);
  }
  return params;
}

const EVENT_CHANNELS: Readonly<Record<string, FeedChannel>> = {
  T: 'trades',
  Q: 'quotes',
  AM: 'bars',
  A: 'bars',
};

function channelOf(item: JsonValue): FeedChannel | undefined {
  return isObject(item) && typeof item.ev === 'string' ? EVENT_CHANNELS[item.ev] : undefined;
}

/** Maps one Polygon item (stream) or one REST result in its envelope (backfill) to events. Pure. */
export function decodePolygon(frame: RawFrame): FrameDecoding {
  const item = frame.payload;
  if (typeof item === 'string')
    return { ok: false, reason: `not JSON: ${JSON.stringify(item.slice(0, 80))}` };
  if (!isObject(item))
    return {
      ok: false,
      reason: `not a Polygon event object: ${Array.isArray(item) ? 'array' : typeof item}`,
    };
  if (typeof item.rest === 'string') return decodeRest(item, frame);
  const ev = item.ev;
  if (ev === 'status') return { ok: true, events: [] };
  if (typeof ev !== 'string' || EVENT_CHANNELS[ev] === undefined)
    return { ok: false, reason: `unknown event type ${JSON.stringify(ev ?? null)}` };
  const expected = EVENT_CHANNELS[ev];
  if (expected !== frame.channel) return { ok: false, reason: `${ev} event on the ${frame.channel} channel` };
  const symbol = item.sym;
  if (typeof symbol !== 'string') return { ok: false, reason: `${ev}: no symbol (sym)` };
  switch (ev) {
    case 'T':
      return checked('trade_tick', {
        schema: 'trade_tick.v1',
        id: feedEventId(PROVIDER, 'trade', symbol, tradeKey(item.x, item.trfi, item.i)),
        ts_event: item.t,
        ts_init: frame.receivedAt,
        symbol,
        price: item.p,
        size: item.s,
        aggressor: 'unknown',
        trade_id: tradeKey(item.x, item.trfi, item.i),
        venue: PROVIDER,
      });
    case 'Q':
      return checked('quote_tick', {
        schema: 'quote_tick.v1',
        id: feedEventId(PROVIDER, 'quote', symbol, String(item.q)),
        ts_event: item.t,
        ts_init: frame.receivedAt,
        symbol,
        bid: item.bp,
        ask: item.ap,
        bid_size: item.bs,
        ask_size: item.as,
        venue: PROVIDER,
      });
    default: {
      const start = numberOr(item.s);
      const end = numberOr(item.e);
      const span = ev === 'AM' ? MINUTE_MS : SECOND_MS;
      if (end - start !== span)
        return { ok: false, reason: `${ev}: aggregate from s ${item.s} to e ${item.e} is not ${span} ms` };
      return bar(symbol, start, span, item, frame.receivedAt);
    }
  }
}

const TIMESPAN_MS: Readonly<Record<string, number>> = { second: SECOND_MS, minute: MINUTE_MS };

function decodeRest(envelope: JsonObject, frame: RawFrame): FrameDecoding {
  const { rest, ticker, result } = envelope;
  if (typeof ticker !== 'string') return { ok: false, reason: `REST ${rest}: no ticker` };
  if (!isObject(result)) return { ok: false, reason: `REST ${rest}: no result object` };
  const expected: Readonly<Record<string, FeedChannel>> = {
    aggs: 'bars',
    trades: 'trades',
    quotes: 'quotes',
  };
  if (expected[rest as string] === undefined)
    return { ok: false, reason: `REST ${JSON.stringify(rest)}: unknown endpoint` };
  if (expected[rest as string] !== frame.channel)
    return { ok: false, reason: `REST ${rest} result on the ${frame.channel} channel` };
  if (rest === 'aggs') {
    const unit = TIMESPAN_MS[String(envelope.timespan)];
    const multiplier = numberOr(envelope.multiplier);
    if (unit === undefined || !Number.isInteger(multiplier) || multiplier < 1)
      return {
        ok: false,
        reason: `REST aggs: bar size ${envelope.multiplier}/${envelope.timespan} not understood`,
      };
    return bar(ticker, numberOr(result.t), multiplier * unit, result, frame.receivedAt);
  }
  // Nanoseconds, parsed by the client as a double (good to ~256 ns): its millisecond, as T/Q `t` give it.
  const nanos = numberOr(result.sip_timestamp);
  const tsEvent = Math.floor(nanos / 1_000_000);
  if (rest === 'trades') {
    const key = tradeKey(result.exchange, result.trf_id, result.id);
    return checked('trade_tick', {
      schema: 'trade_tick.v1',
      id: feedEventId(PROVIDER, 'trade', ticker, key),
      ts_event: tsEvent,
      ts_init: frame.receivedAt,
      symbol: ticker,
      price: result.price,
      size: result.size,
      aggressor: 'unknown',
      trade_id: key,
      venue: PROVIDER,
    });
  }
  return checked('quote_tick', {
    schema: 'quote_tick.v1',
    id: feedEventId(PROVIDER, 'quote', ticker, String(result.sequence_number)),
    ts_event: tsEvent,
    ts_init: frame.receivedAt,
    symbol: ticker,
    bid: result.bid_price,
    ask: result.ask_price,
    bid_size: result.bid_size,
    ask_size: result.ask_size,
    venue: PROVIDER,
  });
}

/**
 * Polygon trade ids are unique per ticker, exchange and reporting facility only (its docs: the same id
 * can print on NYSE and on NASDAQ), so the key holds all three: `<exchange>-<trf>-<id>`.
 */
function tradeKey(
  exchange: JsonValue | undefined,
  trf: JsonValue | undefined,
  id: JsonValue | undefined,
): string {
  return `${String(exchange)}-${trf === undefined ? '' : String(trf)}-${String(id)}`;
}

function bar(
  symbol: string,
  start: number,
  spanMs: number,
  item: JsonObject,
  receivedAt: number,
): FrameDecoding {
  return checked('bar', {
    schema: 'bar.v1',
    id: feedEventId(PROVIDER, 'bar', symbol, start),
    ts_event: start + spanMs,
    ts_init: receivedAt,
    symbol,
    interval: spanMs % MINUTE_MS === 0 ? `${spanMs / MINUTE_MS}m` : `${spanMs / SECOND_MS}s`,
    open: item.o,
    high: item.h,
    low: item.l,
    close: item.c,
    volume: item.v,
  });
}

/** The event if it keeps its contract; else the contract's reason (which names the field). */
function checked(name: MessageName, event: Record<string, JsonValue | undefined>): FrameDecoding {
  const valid = validateMessage(name, event);
  return valid.ok ? { ok: true, events: [valid.value as FeedEvent] } : { ok: false, reason: valid.reason };
}
