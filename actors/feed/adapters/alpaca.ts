// Alpaca market data (stocks: trades, quotes, minute bars; and the news stream) through Alpaca's
// official SDK, @alpacahq/alpaca-trade-api v4: its MarketDataStream owns the sockets (msgpack
// framing, the auth and subscribe messages, keepalive pings) and its generated StockApi / NewsApi
// make the REST calls. The SDK is pointed at another host by its own options: `url` on a stream,
// `basePath` on the REST configuration, which is how the loopback tests reach it.
//
// Two hooks into the SDK, both through its public surface:
// - The stream client parses frames into camelCase objects and drops what it does not know. The
//   FeedActor records the provider's frame, so FrameStream overrides the SDK's documented subclass
//   hook `handleMessage`: control frames (success, subscription, error) go on to the SDK, data frames
//   come here as Alpaca wrote them (msgpack timestamps as RFC-3339 text with nanoseconds).
// - The SDK's reconnect and its REST retry are off: the FeedActor owns reconnect (with backfill of
//   the gap), and a 429 is waited out here for as long as it takes, not given up after a few tries.
// REST bodies are read from the SDK's raw responses (its models turn times into Dates and drop the
// nanoseconds) with JSON.parse: Alpaca's stock and news ids fit 2^53; one that does not is refused by
// decode rather than rounded into another id.
//
// News: a news item names several symbols; decode maps it to one news_item per symbol it names, not
// only the subscribed ones. decode stays pure (a recorded frame replays to the same events whatever
// a replay subscribes) and each event's id carries its symbol, so two feeds that both receive the
// item publish each symbol's event once.
import {
  AuthError,
  marketData,
  PermissionError,
  RateLimitError,
  streaming,
} from '@alpacahq/alpaca-trade-api';
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

export const ALPACA_PROVIDER = 'alpaca';
const DEFAULT_DATA_URL = 'https://data.alpaca.markets';
const DEFAULT_STREAM_URL = 'wss://stream.data.alpaca.markets';
const MINUTE_MS = 60_000;
/** Alpaca's largest page: 10,000 for stock data, 50 for news. */
const MAX_STOCK_PAGE = 10_000;
const MAX_NEWS_PAGE = 50;

export interface AlpacaFeedOptions {
  /** APCA-API-KEY-ID and APCA-API-SECRET-KEY, from the environment or a file; never logged. */
  readonly keyId: string;
  readonly secretKey: string;
  /** Stock data feed: iex (free) or sip (all US exchanges). */
  readonly feed?: 'iex' | 'sip';
  /** Market-data REST host; default https://data.alpaca.markets. */
  readonly dataUrl?: string;
  /** Stream host; stocks are at <streamUrl>/v2/<feed>, news at <streamUrl>/v1beta1/news. */
  readonly streamUrl?: string;
  /** The channels this feed serves: which sockets connect() opens. Default all four. */
  readonly channels?: readonly FeedChannel[];
  /** Receive time of every frame (ts_init). */
  readonly clock: Clock;
  /** REST page size, at most Alpaca's limit (10,000; 50 for news). */
  readonly pageLimit?: number;
  /** How long to wait for the answer to auth or subscribe before calling the connection failed. */
  readonly handshakeTimeoutMs?: number;
  /** Wait after a 429 that says neither Retry-After nor X-RateLimit-Reset. */
  readonly rateLimitFallbackMs?: number;
  /** The longest single wait after a 429, whatever the headers say. */
  readonly rateLimitMaxWaitMs?: number;
  /** Keepalive ping interval of the SDK's socket; 0 turns it off. */
  readonly pingIntervalMs?: number;
}

type Json = { readonly [key: string]: JsonValue };

/** Stream frames the SDK itself must see: they drive its auth and subscription state. */
const CONTROL_TYPES = new Set(['success', 'subscription', 'error']);
/** Data frame type (the `T` field) -> the channel it belongs to. */
const CHANNEL_OF_TYPE: Readonly<Record<string, FeedChannel>> = {
  t: 'trades',
  q: 'quotes',
  b: 'bars',
  n: 'news',
};
const STOCK_CHANNELS: readonly FeedChannel[] = ['trades', 'quotes', 'bars'];

/**
 * The SDK's market-data stream, handing data frames over before its mappers see them. `forward`
 * gets each data frame as JSON; control frames go on to the SDK one by one, in order.
 */
class FrameStream extends streaming.MarketDataStream {
  /** The last error frame the server sent (`[{"T":"error","code":..,"msg":..}]`). */
  serverError: { code: number | undefined; msg: string } | undefined;
  /** What the SDK last reported as an error (a failed connect says why here). */
  lastError: string | undefined;
  /** The channels subscribed on this socket, the first of them the channel of unroutable frames. */
  subscribed: readonly FeedChannel[] = [];

  constructor(
    options: streaming.AlpacaWebSocketOptions,
    private readonly forward: (payload: JsonValue) => void,
  ) {
    super(options);
  }

  protected override handleMessage(message: unknown): void {
    if (!Array.isArray(message)) {
      // Alpaca always sends an array; anything else is a hostile frame for decode to refuse.
      this.forward(toJson(message));
      return;
    }
    for (const item of message) {
      if (isObject(item) && typeof item.T === 'string' && CONTROL_TYPES.has(item.T)) {
        if (item.T === 'error') {
          this.serverError = {
            code: typeof item.code === 'number' ? item.code : undefined,
            msg: String(item.msg ?? ''),
          };
        }
        super.handleMessage([item]);
      } else {
        this.forward(toJson(item));
      }
    }
  }
}

interface Socket {
  readonly stream: FrameStream;
  /** The channels this socket can serve (stocks: trades, quotes, bars; news). */
  readonly channels: readonly FeedChannel[];
}

export class AlpacaFeedAdapter implements FeedAdapter {
  readonly provider = ALPACA_PROVIDER;
  readonly channels: readonly FeedChannel[];
  // Credentials live in these and in the SDK clients they hold: #private, so logging or inspecting
  // the adapter shows none of them.
  readonly #options: AlpacaFeedOptions;
  readonly #stocks: marketData.StockApi;
  readonly #news: marketData.NewsApi;
  #sockets: Socket[] = [];
  private onFrame: ((frame: RawFrame) => void) | undefined;
  private lost: Promise<string> = Promise.resolve('not connected');
  private markLost: (reason: string) => void = () => {};
  private waits = 0;

  constructor(options: AlpacaFeedOptions) {
    this.#options = options;
    this.channels = options.channels ?? ['trades', 'quotes', 'bars', 'news'];
    const configuration = new marketData.Configuration({
      keyId: options.keyId,
      secret: options.secretKey,
      basePath: (options.dataUrl ?? DEFAULT_DATA_URL).replace(/\/+$/, ''),
    });
    this.#stocks = new marketData.StockApi(configuration);
    this.#news = new marketData.NewsApi(configuration);
  }

  async connect(): Promise<void> {
    await this.close();
    this.lost = new Promise((resolve) => {
      this.markLost = resolve;
    });
    const base = (this.#options.streamUrl ?? DEFAULT_STREAM_URL).replace(/\/+$/, '');
    const stockChannels = this.channels.filter((channel) => STOCK_CHANNELS.includes(channel));
    const specs: { url: string; channels: readonly FeedChannel[] }[] = [];
    if (stockChannels.length > 0)
      specs.push({ url: `${base}/v2/${this.#options.feed ?? 'iex'}`, channels: stockChannels });
    if (this.channels.includes('news')) specs.push({ url: `${base}/v1beta1/news`, channels: ['news'] });
    this.#sockets = specs.map(({ url, channels }) => ({ stream: this.openStream(url, channels), channels }));
    await Promise.all(this.#sockets.map(({ stream }) => opened(stream)));
  }

  async authenticate(): Promise<void> {
    for (const { stream } of this.#sockets) {
      const result = await stream.waitForAuthenticationResult(this.handshakeTimeoutMs());
      if (result.status === streaming.STREAM_AUTH_STATUS.SERVER_REJECTED) {
        throw new FeedAuthError(this.provider, `${result.message} (code ${result.code ?? 'none'})`);
      }
      if (!result.authenticated)
        throw new Error(`alpaca: authentication did not complete: ${result.message}`);
    }
  }

  async subscribe(request: FeedSubscriptionRequest): Promise<void> {
    this.onFrame = request.onFrame;
    const symbols = [...request.symbols];
    await Promise.all(
      this.#sockets.map(async ({ stream, channels }) => {
        const wanted = channels.filter((channel) => request.channels.includes(channel));
        if (wanted.length === 0) return;
        stream.serverError = undefined;
        stream.subscribed = wanted;
        const acknowledged = subscriptionAcknowledged(stream, wanted, symbols, this.handshakeTimeoutMs());
        for (const channel of wanted) {
          if (channel === 'trades') stream.subscribeForTrades(symbols);
          else if (channel === 'quotes') stream.subscribeForQuotes(symbols);
          else if (channel === 'bars') stream.subscribeForBars(symbols);
          else stream.subscribeForNews(symbols);
        }
        await acknowledged;
      }),
    );
  }

  disconnected(): Promise<string> {
    return this.lost;
  }

  async *backfill(request: BackfillRequest): AsyncIterable<RawFrame> {
    const { symbol, channel, fromMs, toMs } = request;
    const feed = this.#options.feed ?? 'iex';
    const stockLimit = Math.min(this.#options.pageLimit ?? MAX_STOCK_PAGE, MAX_STOCK_PAGE);
    const newsLimit = Math.min(this.#options.pageLimit ?? MAX_NEWS_PAGE, MAX_NEWS_PAGE);
    // A bar's ts_event is its close; Alpaca stamps and filters bars by their start. Alpaca pages by
    // time, not by id, so `afterId` is not needed: the event at `fromMs` read again is a duplicate.
    const start = new Date(channel === 'bars' ? fromMs - MINUTE_MS : fromMs);
    const end = new Date(toMs);
    let pageToken: string | undefined;
    do {
      const page = await this.page(channel, pageToken, () => {
        const span = { start, end, pageToken, sort: 'asc' } as const;
        if (channel === 'bars')
          return this.#stocks.stockBarSingleRaw({
            ...span,
            symbol,
            timeframe: '1Min',
            limit: stockLimit,
            feed,
          });
        if (channel === 'trades')
          return this.#stocks.stockTradeSingleRaw({ ...span, symbol, limit: stockLimit, feed });
        if (channel === 'quotes')
          return this.#stocks.stockQuoteSingleRaw({ ...span, symbol, limit: stockLimit, feed });
        return this.#news.newsRaw({ ...span, symbols: symbol, limit: newsLimit });
      });
      for (const item of page.items) {
        // The single-symbol endpoints leave the symbol and the frame type out of each item: put back,
        // a backfilled item is the frame the stream would have sent and decodes the same way.
        const payload: Json =
          channel === 'news' ? { T: 'n', ...item } : { T: TYPE_OF_CHANNEL[channel], S: symbol, ...item };
        const at = eventTime(payload);
        if (at !== undefined && (at < fromMs || at >= toMs)) continue;
        yield { payload, channel, receivedAt: this.#options.clock.now(), origin: 'backfill' };
      }
      pageToken = page.next;
    } while (pageToken);
  }

  /** 429 answers waited out so far (for metrics and tests). */
  get rateLimitWaits(): number {
    return this.waits;
  }

  decode(frame: RawFrame): FrameDecoding {
    return decodeAlpacaFrame(frame);
  }

  async close(): Promise<void> {
    const sockets = this.#sockets;
    this.#sockets = [];
    for (const { stream } of sockets) stream.disconnect();
    this.markLost('closed');
  }

  private openStream(url: string, channels: readonly FeedChannel[]): FrameStream {
    const stream = new FrameStream(
      {
        credentials: { keyId: this.#options.keyId, secret: this.#options.secretKey },
        url,
        reconnect: false,
        pingIntervalMs: this.#options.pingIntervalMs ?? 10_000,
      },
      (payload) =>
        this.onFrame?.({
          payload,
          channel: channelOf(payload),
          receivedAt: this.#options.clock.now(),
          origin: 'stream',
        }),
    );
    // A frame goes on the channel its type names when that channel is subscribed here. Anything else
    // (an unknown type, a channel nobody asked for) goes on this socket's first channel, where decode
    // refuses it as wrongly routed instead of it being published.
    const channelOf = (payload: JsonValue): FeedChannel => {
      const type = isObject(payload) ? payload.T : undefined;
      const named = typeof type === 'string' ? CHANNEL_OF_TYPE[type] : undefined;
      const subscribed = stream.subscribed.length > 0 ? stream.subscribed : channels;
      return named && subscribed.includes(named) ? named : (subscribed[0] as FeedChannel);
    };
    // A message the SDK cannot decode (not msgpack) reaches no handler of ours: hand over what the
    // SDK says about it, so it is dead-lettered and counted instead of vanishing.
    stream.onError((message) => {
      stream.lastError = message;
      if (message.startsWith('failed to decode message'))
        this.onFrame?.({
          payload: { undecodable: message },
          channel: channelOf(null),
          receivedAt: this.#options.clock.now(),
          origin: 'stream',
        });
    });
    stream.onDisconnect(() => {
      const error = stream.serverError;
      this.markLost(
        error ? `${url}: server error ${error.code ?? ''} ${error.msg}`.trim() : `${url}: closed`,
      );
    });
    stream.connect();
    return stream;
  }

  /** One REST page, waiting out every 429 for as long as the server asks. */
  private async page(
    channel: FeedChannel,
    pageToken: string | undefined,
    call: () => Promise<{ raw: Response }>,
  ): Promise<{ items: Json[]; next: string | undefined }> {
    for (;;) {
      let response: { raw: Response };
      try {
        response = await call();
      } catch (error) {
        if (error instanceof RateLimitError) {
          this.waits++;
          const asked = error.retryAfterMs ?? this.#options.rateLimitFallbackMs ?? 1_000;
          await sleep(Math.min(asked, this.#options.rateLimitMaxWaitMs ?? 60_000));
          continue;
        }
        if (error instanceof AuthError || error instanceof PermissionError) {
          throw new FeedAuthError(this.provider, `REST ${error.status}: ${error.message}`);
        }
        throw error;
      }
      let body: unknown;
      try {
        body = JSON.parse(await response.raw.text());
      } catch {
        body = undefined;
      }
      // Alpaca answers `"bars": null` (not []) for a span without data.
      const items = isObject(body) ? (body[channel] ?? []) : undefined;
      const next = isObject(body) ? body.next_page_token : undefined;
      if (!Array.isArray(items) || !items.every(isObject) || (next != null && typeof next !== 'string')) {
        throw new Error(
          `alpaca: REST ${channel} page${pageToken ? ` ${pageToken}` : ''} is not JSON {${channel}: [...], next_page_token}`,
        );
      }
      return { items: items as Json[], next: next || undefined };
    }
  }

  private handshakeTimeoutMs(): number {
    return this.#options.handshakeTimeoutMs ?? 10_000;
  }
}

const TYPE_OF_CHANNEL: Readonly<Record<FeedChannel, string>> = {
  trades: 't',
  quotes: 'q',
  bars: 'b',
  news: 'n',
};

function opened(stream: FrameStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (state: streaming.STATE) => {
      if (state === streaming.STATE.DISCONNECTED) {
        stream.off(streaming.EVENT.STATE_CHANGE, check);
        reject(new Error(`alpaca: could not connect: ${stream.lastError ?? 'connection closed'}`));
      } else if (state !== streaming.STATE.CONNECTING) {
        stream.off(streaming.EVENT.STATE_CHANGE, check);
        resolve();
      }
    };
    stream.onStateChange(check);
  });
}

/**
 * Resolves once the server's subscription message lists every symbol on every wanted channel;
 * an error frame first is a FeedSubscriptionError, a close or a timeout a plain Error.
 */
function subscriptionAcknowledged(
  stream: FrameStream,
  channels: readonly FeedChannel[],
  symbols: readonly string[],
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const listeners: [string, (...args: never[]) => void][] = [];
    const finish = (error?: Error) => {
      clearTimeout(timer);
      for (const [event, listener] of listeners) stream.off(event, listener);
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`alpaca: no subscription acknowledgement within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onSubscription = (current: Record<string, string[]>) => {
      if (channels.every((channel) => symbols.every((symbol) => current[channel]?.includes(symbol))))
        finish();
    };
    const onError = () => {
      const error = stream.serverError;
      if (error)
        finish(new FeedSubscriptionError(ALPACA_PROVIDER, `${error.msg} (code ${error.code ?? 'none'})`));
    };
    const onClose = () => finish(new Error('alpaca: connection closed while subscribing'));
    listeners.push(
      [streaming.EVENT.SUBSCRIPTION, onSubscription as (...args: never[]) => void],
      [streaming.EVENT.CLIENT_ERROR, onError],
      [streaming.STATE.DISCONNECTED, onClose],
    );
    for (const [event, listener] of listeners) stream.on(event, listener);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A frame as the SDK decoded it, as JSON: the msgpack timestamp (the SDK's StreamTimestamp) as its
 * RFC-3339 text with nanoseconds, 64-bit integers as numbers where exact and as decimal text beyond.
 */
function toJson(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number')
    return value;
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(toJson);
  if (isObject(value)) {
    if (typeof value.toRFC3339 === 'function') return String(value.toRFC3339());
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = toJson(item);
    return out;
  }
  return null;
}

// --- decode: Alpaca frames to Sluice events (pure) ----------------------------------------------

class FrameError extends Error {}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC-3339 time as epoch ms (sub-ms digits dropped) and the full text's nanoseconds of the ms. */
export function parseAlpacaTime(text: string): { ms: number; subMsNanos: number } | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zone] = match;
  const fields = [y, mo, d, h, mi, s].map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = fields;
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utc);
  // Date.UTC rolls 2021-02-30 over to March: refuse what does not round-trip.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  )
    return undefined;
  const nanos = fraction.padEnd(9, '0');
  const offset =
    zone === 'Z' || zone === undefined
      ? 0
      : (zone.startsWith('-') ? -1 : 1) *
        (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) *
        MINUTE_MS;
  return { ms: utc + Number(nanos.slice(0, 3)) - offset, subMsNanos: Number(nanos.slice(3)) };
}

function time(frame: Json, field: string): { ms: number; subMsNanos: number } {
  const value = frame[field];
  const parsed = typeof value === 'string' ? parseAlpacaTime(value) : undefined;
  if (!parsed) throw new FrameError(`${field}: not an RFC-3339 time: ${preview(value)}`);
  return parsed;
}

function finite(frame: Json, field: string): number {
  const value = frame[field];
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new FrameError(`${field}: not a finite number: ${preview(value)}`);
  return value;
}

function text(frame: Json, field: string): string {
  const value = frame[field];
  if (typeof value !== 'string' || value === '')
    throw new FrameError(`${field}: not a non-empty string: ${preview(value)}`);
  return value;
}

/** A provider id: an exact integer (a number up to 2^53, or its decimal text beyond). */
function integerId(frame: Json, field: string): string {
  const value = frame[field];
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return value;
  if (typeof value === 'number' && Number.isInteger(value))
    throw new FrameError(`${field}: ${value} is beyond 2^53 and cannot be kept exact`);
  throw new FrameError(`${field}: not an integer id: ${preview(value)}`);
}

function preview(value: JsonValue | undefined): string {
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

/** ts_event of a stream or backfill frame, or undefined where it has none that parses. */
function eventTime(frame: Json): number | undefined {
  const field = frame.T === 'n' ? frame.created_at : frame.t;
  const parsed = typeof field === 'string' ? parseAlpacaTime(field) : undefined;
  if (!parsed) return undefined;
  return frame.T === 'b' ? parsed.ms + MINUTE_MS : parsed.ms;
}

function valid<N extends MessageName>(name: N, event: unknown): FeedEvent {
  const checked = validateMessage(name, event);
  if (!checked.ok) throw new FrameError(checked.reason);
  return checked.value as FeedEvent;
}

function trade(frame: Json, receivedAt: number): FeedEvent[] {
  const symbol = text(frame, 'S');
  const exchange = text(frame, 'x');
  const id = integerId(frame, 'i');
  const trade_id = `${exchange}-${id}`;
  return [
    valid('trade_tick', {
      schema: 'trade_tick.v1',
      id: feedEventId(ALPACA_PROVIDER, 'trade', symbol, trade_id),
      ts_event: time(frame, 't').ms,
      ts_init: receivedAt,
      symbol,
      price: finite(frame, 'p'),
      size: finite(frame, 's'),
      // Alpaca's stock trades do not say which side took liquidity.
      aggressor: 'unknown',
      trade_id,
      venue: `${ALPACA_PROVIDER}/${exchange}`,
    }),
  ];
}

function quote(frame: Json, receivedAt: number): FeedEvent[] {
  const symbol = text(frame, 'S');
  const at = time(frame, 't');
  const [bid, ask, bidSize, askSize] = ['bp', 'ap', 'bs', 'as'].map((field) => finite(frame, field)) as [
    number,
    number,
    number,
    number,
  ];
  // Quotes have no id: their nanosecond time and content are the key, so only a true duplicate
  // (the same quote again) is dropped by the stream.
  const exchanges = `${frame.bx ?? ''}${frame.ax ?? ''}`;
  const key = `${at.ms}.${String(at.subMsNanos).padStart(6, '0')}-${exchanges}-${bid}x${bidSize}-${ask}x${askSize}`;
  if (ask < bid) throw new FrameError(`crossed quote: ask ${ask} < bid ${bid}`);
  return [
    valid('quote_tick', {
      schema: 'quote_tick.v1',
      id: feedEventId(ALPACA_PROVIDER, 'quote', symbol, key),
      ts_event: at.ms,
      ts_init: receivedAt,
      symbol,
      bid,
      ask,
      bid_size: bidSize,
      ask_size: askSize,
      venue: ALPACA_PROVIDER,
    }),
  ];
}

function bar(frame: Json, receivedAt: number): FeedEvent[] {
  const symbol = text(frame, 'S');
  const start = time(frame, 't');
  if (start.ms % MINUTE_MS !== 0 || start.subMsNanos !== 0)
    throw new FrameError(`t: a minute bar starts on a whole minute, not ${preview(frame.t)}`);
  const [open, high, low, close, volume] = ['o', 'h', 'l', 'c', 'v'].map((field) => finite(frame, field)) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (high < Math.max(open, close, low) || low > Math.min(open, close))
    throw new FrameError(`inconsistent bar: o ${open} h ${high} l ${low} c ${close}`);
  return [
    valid('bar', {
      schema: 'bar.v1',
      id: feedEventId(ALPACA_PROVIDER, 'bar', symbol, start.ms),
      ts_event: start.ms + MINUTE_MS,
      ts_init: receivedAt,
      symbol,
      interval: '1m',
      open,
      high,
      low,
      close,
      volume,
    }),
  ];
}

function news(frame: Json, receivedAt: number): FeedEvent[] {
  const id = integerId(frame, 'id');
  const symbols = frame.symbols;
  if (!Array.isArray(symbols) || symbols.length === 0)
    throw new FrameError('symbols: a news item names no symbol');
  const headline = text(frame, 'headline');
  const source = text(frame, 'source');
  const createdAt = time(frame, 'created_at').ms;
  const url = frame.url;
  if (url !== undefined && url !== null && url !== '' && typeof url !== 'string')
    throw new FrameError(`url: not a string: ${preview(url)}`);
  return [...new Set(symbols)].map((symbol) => {
    if (typeof symbol !== 'string' || symbol === '')
      throw new FrameError(`symbols: not a symbol: ${preview(symbol)}`);
    return valid('news_item', {
      schema: 'news_item.v1',
      id: feedEventId(ALPACA_PROVIDER, 'news', symbol, id),
      ts_event: createdAt,
      ts_init: receivedAt,
      symbol,
      headline,
      source,
      ...(typeof url === 'string' && url !== '' ? { url } : {}),
    });
  });
}

const DECODERS: Readonly<Record<string, (frame: Json, receivedAt: number) => FeedEvent[]>> = {
  t: trade,
  q: quote,
  b: bar,
  n: news,
};

/** Maps one Alpaca frame (stream, or a backfilled item put in the stream's shape) to events. */
export function decodeAlpacaFrame(frame: RawFrame): FrameDecoding {
  const payload = frame.payload;
  if (!isObject(payload)) return { ok: false, reason: `not an Alpaca frame object: ${preview(payload)}` };
  if (typeof payload.undecodable === 'string')
    return {
      ok: false,
      reason: `a message the stream client could not decode: ${preview(payload.undecodable)}`,
    };
  const type = payload.T;
  const decoder = typeof type === 'string' ? DECODERS[type] : undefined;
  if (!decoder) {
    const known = type === 'c' || type === 'x' ? ' (trade corrections and cancels are not applied)' : '';
    return { ok: false, reason: `unknown frame type T=${preview(payload.T as JsonValue)}${known}` };
  }
  if (CHANNEL_OF_TYPE[type as string] !== frame.channel)
    return { ok: false, reason: `frame type ${type} arrived on channel ${frame.channel}` };
  try {
    return { ok: true, events: decoder(payload as Json, frame.receivedAt) };
  } catch (error) {
    if (error instanceof FrameError) return { ok: false, reason: error.message };
    throw error;
  }
}
