// TEST FIXTURE, not production code: a Binance spot server on a free 127.0.0.1 port for the ccxt feed
// adapter's tests and benches. It speaks the parts of Binance's documented spot protocol that ccxt
// calls for public market data:
//   REST  GET /api/v3/exchangeInfo      (BTCUSDT and ADABTC, with Binance's real filters)
//         GET /api/v3/historicalTrades  (symbol, fromId inclusive, limit default 500 max 1000)
//         GET /api/v3/aggTrades         (symbol, fromId | startTime+endTime, limit)
//         GET /api/v3/klines            (ADABTC, interval 1m, startTime/endTime on open time, inclusive,
//                                        limit default 500 max 1000; without startTime the latest)
//         HTTP 429 with Retry-After and Binance's -1003 body when told to
//         a corrupt historicalTrades row (negative price) when told to (`corruptRestTrade`)
//   WS    /ws and /ws/<anything> (ccxt appends a stream index), SUBSCRIBE / UNSUBSCRIBE method frames
//         answered {"result":null,"id":n}; pushes `<symbol>@trade` and `<symbol>@bookTicker` frames,
//         and `adabtc@kline_1m`: each candle as two open updates then its closing update (x: true).
// The data is REAL: ../shared/data/binance-btcusdt-ticks (Binance BTCUSDT spot trades and top of book,
// 2021-01-08, see PROVENANCE.txt). The fixture models an exchange tape: once the first client
// subscribes, trades "print" at the configured rate whether or not anyone is connected, so a client
// that drops misses them on the stream and finds them over REST (only printed trades are served).
// Klines are REAL too: ../shared/data/intraday-bars-nautilus/binance_adabtc_1m_klines_2021-11-2{7,8}.csv
// (Binance ADABTC 1-minute klines, 21 candles, see PROVENANCE.txt), a tape of their own that starts at
// the first `@kline_1m` subscription; REST serves only the candles already closed on it.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WebSocket } from 'ws';
import { closeLoopback, type LoopbackListener, listenOnLoopback } from './listener.ts';

const dataDir = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../../shared/data/binance-btcusdt-ticks',
);

/** One real trade of the source file, as Binance reports it. */
export interface SourceTrade {
  readonly id: number;
  /** Trade time, epoch ms. */
  readonly time: number;
  readonly price: string;
  readonly qty: string;
  readonly isBuyerMaker: boolean;
}

export interface SourceQuote {
  readonly time: number;
  readonly bid: string;
  readonly bidQty: string;
  readonly ask: string;
  readonly askQty: string;
}

function csvRows(file: string, directory = dataDir, header = true): string[][] {
  const lines = readFileSync(join(directory, file), 'utf8')
    .trim()
    .split('\n')
    .slice(header ? 1 : 0);
  return lines.map((line) => line.split(','));
}

/**
 * One real 1-minute candle as Binance's public data and GET /api/v3/klines give it: open time, open,
 * high, low, close, volume, close time, quote volume, trade count, taker buy base and quote volume, ignore.
 */
export type SourceKline = readonly [
  number,
  string,
  string,
  string,
  string,
  string,
  number,
  string,
  number,
  string,
  string,
  string,
];

/** The 21 real ADABTC 1-minute candles, oldest first. */
export function loadSourceKlines(): SourceKline[] {
  const directory = join(dataDir, '../intraday-bars-nautilus');
  return ['27', '28'].flatMap((day) =>
    csvRows(`binance_adabtc_1m_klines_2021-11-${day}.csv`, directory, false).map(
      ([t, o, h, l, c, v, closeTime, q, n, takerBase, takerQuote, ignore]) =>
        [
          Number(t),
          o ?? '',
          h ?? '',
          l ?? '',
          c ?? '',
          v ?? '',
          Number(closeTime),
          q ?? '',
          Number(n),
          takerBase ?? '',
          takerQuote ?? '',
          ignore ?? '',
        ] as const,
    ),
  );
}

/** The 2,001 real trades of btcusdt_trades_2021-01-08.csv, oldest first. */
export function loadSourceTrades(): SourceTrade[] {
  return csvRows('btcusdt_trades_2021-01-08.csv').map(([time, id, price, qty, buyerMaker]) => ({
    id: Number(id),
    time: Date.parse(time ?? ''),
    price: price ?? '',
    qty: qty ?? '',
    isBuyerMaker: buyerMaker === 'True',
  }));
}

export function loadSourceQuotes(): SourceQuote[] {
  return csvRows('btcusdt_quotes_2021-01-08.csv').map(([time, , askQty, ask, bidQty, bid]) => ({
    time: Date.parse(time ?? ''),
    bid: bid ?? '',
    bidQty: bidQty ?? '',
    ask: ask ?? '',
    askQty: askQty ?? '',
  }));
}

/**
 * The source trades `cycles` times over. Cycles after the first are the SAME real trades repeated, with
 * ids and times shifted past the previous cycle so ids stay unique and increasing (a bench needs more
 * than 2,001 trades; nothing here invents prices).
 */
export function cycledTrades(source: readonly SourceTrade[], cycles: number): SourceTrade[] {
  const first = source[0];
  const last = source[source.length - 1];
  if (!first || !last) return [];
  const idStep = last.id - first.id + 1;
  const timeStep = last.time - first.time + 1_000;
  const out: SourceTrade[] = [];
  for (let cycle = 0; cycle < cycles; cycle++) {
    for (const trade of source) {
      out.push({ ...trade, id: trade.id + cycle * idStep, time: trade.time + cycle * timeStep });
    }
  }
  return out;
}

const SYMBOL = 'BTCUSDT';

/** BTCUSDT as Binance's exchangeInfo lists it (filters as published for the pair). */
export const EXCHANGE_INFO_SYMBOL = {
  symbol: SYMBOL,
  status: 'TRADING',
  baseAsset: 'BTC',
  baseAssetPrecision: 8,
  quoteAsset: 'USDT',
  quotePrecision: 8,
  quoteAssetPrecision: 8,
  baseCommissionPrecision: 8,
  quoteCommissionPrecision: 8,
  orderTypes: [
    'LIMIT',
    'LIMIT_MAKER',
    'MARKET',
    'STOP_LOSS',
    'STOP_LOSS_LIMIT',
    'TAKE_PROFIT',
    'TAKE_PROFIT_LIMIT',
  ],
  icebergAllowed: true,
  ocoAllowed: true,
  otoAllowed: true,
  quoteOrderQtyMarketAllowed: true,
  allowTrailingStop: true,
  cancelReplaceAllowed: true,
  isSpotTradingAllowed: true,
  isMarginTradingAllowed: true,
  filters: [
    {
      filterType: 'PRICE_FILTER',
      minPrice: '0.01000000',
      maxPrice: '1000000.00000000',
      tickSize: '0.01000000',
    },
    { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
    { filterType: 'ICEBERG_PARTS', limit: 10 },
    { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '76.87354166', stepSize: '0.00000000' },
    { filterType: 'TRAILING_DELTA', minTrailingAboveDelta: 10, maxTrailingAboveDelta: 2000 },
    {
      filterType: 'PERCENT_PRICE_BY_SIDE',
      bidMultiplierUp: '5',
      bidMultiplierDown: '0.2',
      askMultiplierUp: '5',
      askMultiplierDown: '0.2',
      avgPriceMins: 5,
    },
    {
      filterType: 'NOTIONAL',
      minNotional: '5.00000000',
      applyMinToMarket: true,
      maxNotional: '9000000.00000000',
    },
    { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
    { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: 5 },
  ],
  permissions: [],
  permissionSets: [['SPOT', 'MARGIN']],
  defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
  allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
};

const KLINE_SYMBOL = 'ADABTC';

/** ADABTC as Binance's exchangeInfo lists it: the BTCUSDT entry with ADABTC's assets and filters. */
export const EXCHANGE_INFO_KLINE_SYMBOL = {
  ...EXCHANGE_INFO_SYMBOL,
  symbol: KLINE_SYMBOL,
  baseAsset: 'ADA',
  quoteAsset: 'BTC',
  filters: [
    {
      filterType: 'PRICE_FILTER',
      minPrice: '0.00000001',
      maxPrice: '1000.00000000',
      tickSize: '0.00000001',
    },
    { filterType: 'LOT_SIZE', minQty: '0.10000000', maxQty: '90000000.00000000', stepSize: '0.10000000' },
    {
      filterType: 'NOTIONAL',
      minNotional: '0.00010000',
      applyMinToMarket: true,
      maxNotional: '9000000.00000000',
    },
  ],
};

export interface BinanceLoopbackOptions {
  /** The tape; defaults to the real source trades once. */
  trades?: readonly SourceTrade[];
  quotes?: readonly SourceQuote[];
  /** Trades printed per second; 0 = as fast as the socket takes them. Default 1,000. */
  tradesPerSecond?: number;
  /** Start the tape at the first `@trade` subscription (default) or only when `startTape()` is called. */
  autoStart?: boolean;
  /** The kline tape; defaults to the real ADABTC candles. */
  klines?: readonly SourceKline[];
  /** Candles closed per second on the kline tape. Default 20. */
  klinesPerSecond?: number;
}

/** Binance's `limit` (default 500, 1 to 1000), or undefined once a 400 is answered for a bad one. */
function pageLimit(
  query: Record<string, string>,
  reply: (status: number, body: unknown) => void,
): number | undefined {
  const limit = query.limit === undefined ? 500 : Number(query.limit);
  if (Number.isInteger(limit) && limit >= 1 && limit <= 1000) return limit;
  reply(400, { code: -1100, msg: "Illegal characters found in parameter 'limit'; legal range is '1-1000'." });
  return undefined;
}

/** The TCP socket under a ws WebSocket (ws keeps it as `_socket`). */
function rawSocketOf(socket: WebSocket): { cork(): void; uncork(): void } | undefined {
  return (socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
}

interface Subscriber {
  readonly socket: WebSocket;
  readonly streams: Set<string>;
}

export interface RestCall {
  readonly path: string;
  readonly query: Record<string, string>;
  readonly status: number;
}

export class BinanceLoopback {
  readonly trades: readonly SourceTrade[];
  readonly quotes: readonly SourceQuote[];
  readonly klines: readonly SourceKline[];
  /** Every REST call, in order (for paging and 429 assertions). */
  readonly restCalls: RestCall[] = [];
  /** Trade frames sent over WebSockets (all connections). */
  tradeFramesSent = 0;
  private printed = 0;
  private quoteCursor = 0;
  private tradesPerSecond: number;
  private subscribers = new Set<Subscriber>();
  private ticker: NodeJS.Timeout | undefined;
  private tapeStartedAt: number | undefined;
  private printedAtStart = 0;
  private rateLimited = 0;
  private retryAfterSeconds = 1;
  private dropAtTrade: number | undefined;
  private readonly corruptRestTrades = new Set<number>();
  private muted = false;
  private refusing = false;
  private paused = false;
  private readonly printedListeners: Array<() => void> = [];
  private readonly autoStart: boolean;
  private readonly klinesPerSecond: number;
  private klineTicker: NodeJS.Timeout | undefined;
  private klinesClosed = 0;
  private readonly klineListeners: Array<{ count: number; resolve: () => void }> = [];

  private constructor(
    private readonly listener: LoopbackListener,
    options: BinanceLoopbackOptions,
  ) {
    this.trades = options.trades ?? loadSourceTrades();
    this.quotes = options.quotes ?? loadSourceQuotes();
    this.tradesPerSecond = options.tradesPerSecond ?? 1_000;
    this.autoStart = options.autoStart ?? true;
    this.klines = options.klines ?? loadSourceKlines();
    this.klinesPerSecond = options.klinesPerSecond ?? 20;
  }

  static async start(options: BinanceLoopbackOptions = {}): Promise<BinanceLoopback> {
    const listener = await listenOnLoopback({
      onRequest: (request, response) => server.onRequest(request, response),
      acceptsUpgrade: (request) => (request.url ?? '').startsWith('/ws') && !server.refusing,
      onSocket: (socket) => server.onSocket(socket),
    });
    const server = new BinanceLoopback(listener, options);
    return server;
  }

  get port(): number {
    return this.listener.port;
  }

  /** ccxt's `urls.api.public` for Binance spot. */
  get restUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v3`;
  }

  /** ccxt's `urls.api.ws.spot`. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** How many trades of the tape have printed (are visible over REST). */
  get printedCount(): number {
    return this.printed;
  }

  /** Changes the print rate from now on; 0 = as fast as possible. */
  setRate(tradesPerSecond: number): void {
    this.tradesPerSecond = tradesPerSecond;
    this.tapeStartedAt = performance.now();
    this.printedAtStart = this.printed;
  }

  /** Closes every WebSocket just before trade index `index` (0-based) prints; the tape goes on. */
  dropConnectionAt(index: number): void {
    this.dropAtTrade = index;
  }

  /** Closes every WebSocket now (as Binance does at its 24-hour limit or on a network fault). */
  dropConnections(): void {
    for (const subscriber of this.subscribers) subscriber.socket.terminate();
    this.subscribers.clear();
  }

  /** An outage: drops every WebSocket and refuses new ones until called with false; the tape goes on. */
  refuseConnections(on: boolean): void {
    this.refusing = on;
    if (on) this.dropConnections();
  }

  /** The stream goes silent while the tape keeps printing (REST still serves what printed). */
  mute(on: boolean): void {
    this.muted = on;
  }

  /** Stops and restarts the tape itself (no trades happen). */
  pause(on: boolean): void {
    this.paused = on;
    if (!on) this.setRate(this.tradesPerSecond);
  }

  /** The next `count` trade-data REST calls answer 429 with `Retry-After: seconds`. */
  rateLimitNext(count: number, retryAfterSeconds = 1): void {
    this.rateLimited = count;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /**
   * Test control: historicalTrades serves trade `id` with a negative price, a hostile REST row; the
   * stream and aggTrades keep the real trade.
   */
  corruptRestTrade(id: number): void {
    this.corruptRestTrades.add(id);
  }

  /** Sends `frame` (an object, JSON-encoded, or a raw string as is) to every subscribed socket. */
  inject(frame: unknown): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    for (const subscriber of this.subscribers) subscriber.socket.send(text);
  }

  /** The `@trade` stream frame for a trade, as Binance sends it. */
  tradeFrame(trade: SourceTrade): Record<string, unknown> {
    return {
      e: 'trade',
      E: trade.time,
      s: SYMBOL,
      t: trade.id,
      p: trade.price,
      q: trade.qty,
      T: trade.time,
      m: trade.isBuyerMaker,
      M: true,
    };
  }

  /** How many candles of the kline tape have closed (are visible over REST). */
  get klinesClosedCount(): number {
    return this.klinesClosed;
  }

  /** Resolves once `count` candles (default all) have closed on the kline tape. */
  klinesClosedAt(count = this.klines.length): Promise<void> {
    if (this.klinesClosed >= count) return Promise.resolve();
    return new Promise((resolve) => this.klineListeners.push({ count, resolve }));
  }

  /** The `@kline_1m` stream frame of a candle, as Binance sends it; `closed` sets `x`. */
  klineFrame(kline: SourceKline, closed: boolean, eventTime = kline[6]): Record<string, unknown> {
    const [t, o, h, l, c, v, closeTime, q, n, takerBase, takerQuote] = kline;
    return {
      e: 'kline',
      E: eventTime,
      s: KLINE_SYMBOL,
      k: {
        t,
        T: closeTime,
        s: KLINE_SYMBOL,
        i: '1m',
        f: -1,
        L: -1,
        o,
        c,
        h,
        l,
        v,
        n,
        x: closed,
        q,
        V: takerBase,
        Q: takerQuote,
        B: '0',
      },
    };
  }

  /** Resolves once the whole tape has printed. */
  allPrinted(): Promise<void> {
    if (this.printed >= this.trades.length) return Promise.resolve();
    return new Promise((resolve) => this.printedListeners.push(resolve));
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    if (this.klineTicker) clearInterval(this.klineTicker);
    await closeLoopback(this.listener);
  }

  private onSocket(socket: WebSocket): void {
    const subscriber: Subscriber = { socket, streams: new Set() };
    this.subscribers.add(subscriber);
    socket.on('close', () => this.subscribers.delete(subscriber));
    socket.on('message', (data) => {
      let request: { method?: unknown; params?: unknown; id?: unknown };
      try {
        request = JSON.parse(String(data)) as typeof request;
      } catch {
        socket.send(JSON.stringify({ error: { code: 2, msg: 'Invalid JSON' }, id: null }));
        return;
      }
      const params = Array.isArray(request.params) ? request.params.map(String) : [];
      if (request.method === 'SUBSCRIBE') {
        for (const stream of params) subscriber.streams.add(stream);
        socket.send(JSON.stringify({ result: null, id: request.id }));
        if (this.autoStart && params.some((stream) => stream.endsWith('@trade'))) this.startTape();
        if (params.some((stream) => stream.endsWith('@kline_1m'))) this.startKlines();
      } else if (request.method === 'UNSUBSCRIBE') {
        for (const stream of params) subscriber.streams.delete(stream);
        socket.send(JSON.stringify({ result: null, id: request.id }));
      } else {
        socket.send(JSON.stringify({ error: { code: 1, msg: 'Invalid request' }, id: request.id ?? null }));
      }
    });
  }

  /** Streams some open socket is subscribed to. */
  subscribedStreams(): Set<string> {
    const streams = new Set<string>();
    for (const subscriber of this.subscribers) for (const stream of subscriber.streams) streams.add(stream);
    return streams;
  }

  /** Starts printing the tape (once); see `autoStart`. */
  startTape(): void {
    if (this.ticker) return;
    this.setRate(this.tradesPerSecond);
    this.ticker = setInterval(() => this.printDue(), 5);
  }

  /** Starts the kline tape (once): one candle a tick, its open updates then its close. */
  private startKlines(): void {
    if (this.klineTicker) return;
    this.klineTicker = setInterval(() => {
      const kline = this.klines[this.klinesClosed];
      if (!kline) {
        clearInterval(this.klineTicker);
        return;
      }
      // Updates while the candle is open: at its open (open price only, nothing traded yet), then as
      // it stands just before its close; the closing update carries the real candle with x: true.
      const [t, o] = kline;
      const opening: SourceKline = [
        t,
        o,
        o,
        o,
        o,
        '0.00000000',
        kline[6],
        '0.00000000',
        0,
        '0.00000000',
        '0.00000000',
        '0',
      ];
      this.pushKline(this.klineFrame(opening, false, t));
      this.pushKline(this.klineFrame(kline, false, kline[6] - 1));
      this.klinesClosed++;
      this.pushKline(this.klineFrame(kline, true));
      for (const listener of [...this.klineListeners]) {
        if (this.klinesClosed < listener.count) continue;
        this.klineListeners.splice(this.klineListeners.indexOf(listener), 1);
        listener.resolve();
      }
    }, 1000 / this.klinesPerSecond);
  }

  private pushKline(frame: Record<string, unknown>): void {
    const stream = `${KLINE_SYMBOL.toLowerCase()}@kline_1m`;
    const text = JSON.stringify(frame);
    for (const subscriber of this.subscribers) {
      if (subscriber.streams.has(stream)) subscriber.socket.send(text);
    }
  }

  /** Prints the trades due by now at the current rate; as-fast-as-possible prints in socket-sized batches. */
  private printDue(): void {
    if (this.paused || this.tapeStartedAt === undefined) return;
    const due =
      this.tradesPerSecond > 0
        ? this.printedAtStart +
          Math.floor(((performance.now() - this.tapeStartedAt) * this.tradesPerSecond) / 1000)
        : this.printed + this.unsentBudget();
    // One write to each socket per batch instead of one per frame, as an exchange's server batches its
    // socket writes: the fixture's system calls are not the feed's cost.
    const corked = [...this.subscribers].map((subscriber) => rawSocketOf(subscriber.socket));
    for (const socket of corked) socket?.cork();
    while (this.printed < Math.min(due, this.trades.length)) {
      if (this.dropAtTrade === this.printed) {
        this.dropAtTrade = undefined;
        this.dropConnections();
      }
      const trade = this.trades[this.printed];
      this.printed++;
      if (trade) this.push('@trade', this.tradeFrame(trade));
      this.pushQuotesUpTo(trade?.time ?? 0);
    }
    for (const socket of corked) socket?.uncork();
    if (this.printed >= this.trades.length) {
      for (const listener of this.printedListeners.splice(0)) listener();
    }
  }

  /** How many trades fit before any socket holds 4 MiB unsent: back-pressure for the as-fast mode. */
  private unsentBudget(): number {
    let buffered = 0;
    for (const subscriber of this.subscribers)
      buffered = Math.max(buffered, subscriber.socket.bufferedAmount);
    return buffered > 4 * 1024 * 1024 ? 0 : 2_000;
  }

  /** Top-of-book frames interleave with trades by source time (the bookTicker stream has no event time). */
  private pushQuotesUpTo(time: number): void {
    while (this.quoteCursor < this.quotes.length) {
      const quote = this.quotes[this.quoteCursor];
      if (!quote || quote.time > time) return;
      this.quoteCursor++;
      this.push('@bookTicker', {
        u: 400_900_000 + this.quoteCursor,
        s: SYMBOL,
        b: quote.bid,
        B: quote.bidQty,
        a: quote.ask,
        A: quote.askQty,
      });
    }
  }

  private push(suffix: string, frame: Record<string, unknown>): void {
    if (this.muted) return;
    const stream = `${SYMBOL.toLowerCase()}${suffix}`;
    let text: string | undefined;
    for (const subscriber of this.subscribers) {
      if (!subscriber.streams.has(stream)) continue;
      text ??= JSON.stringify(frame);
      subscriber.socket.send(text);
      if (suffix === '@trade') this.tradeFramesSent++;
    }
  }

  private onRequest(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${this.port}`);
    const query = Object.fromEntries(url.searchParams);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      this.restCalls.push({ path: url.pathname, query, status });
      response.writeHead(status, {
        'content-type': 'application/json',
        'x-mbx-used-weight-1m': '1',
        ...headers,
      });
      response.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/v3/exchangeInfo') {
      reply(200, {
        timezone: 'UTC',
        serverTime: this.trades[this.printed]?.time ?? 0,
        rateLimits: [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
          { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
          { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
        ],
        exchangeFilters: [],
        symbols: [EXCHANGE_INFO_SYMBOL, EXCHANGE_INFO_KLINE_SYMBOL],
      });
      return;
    }
    if (this.rateLimited > 0) {
      this.rateLimited--;
      reply(
        429,
        {
          code: -1003,
          msg: 'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use WebSocket Streams for live updates to avoid bans.',
        },
        { 'retry-after': String(this.retryAfterSeconds) },
      );
      return;
    }
    if (url.pathname === '/api/v3/klines') {
      this.klinesReply(query, reply);
      return;
    }
    if (query.symbol !== SYMBOL) {
      reply(400, { code: -1121, msg: 'Invalid symbol.' });
      return;
    }
    const limit = pageLimit(query, reply);
    if (limit === undefined) return;
    const visible = this.trades.slice(0, this.printed);
    if (url.pathname === '/api/v3/historicalTrades') {
      // Old trade lookup: from `fromId` inclusive, else the most recent `limit`.
      const start =
        query.fromId === undefined
          ? Math.max(0, visible.length - limit)
          : lowerBound(visible, (trade) => trade.id >= Number(query.fromId));
      reply(
        200,
        visible.slice(start, start + limit).map((trade) => ({
          id: trade.id,
          price: this.corruptRestTrades.has(trade.id) ? `-${trade.price}` : trade.price,
          qty: trade.qty,
          quoteQty: (Number(trade.price) * Number(trade.qty)).toFixed(8),
          time: trade.time,
          isBuyerMaker: trade.isBuyerMaker,
          isBestMatch: true,
        })),
      );
      return;
    }
    if (url.pathname === '/api/v3/aggTrades') {
      const aggregates = aggregate(visible);
      let selected: AggTrade[];
      if (query.fromId !== undefined) {
        if (query.startTime !== undefined || query.endTime !== undefined) {
          reply(400, { code: -1128, msg: 'Combination of optional parameters invalid.' });
          return;
        }
        selected = aggregates.filter((agg) => agg.a >= Number(query.fromId));
      } else if (query.startTime !== undefined || query.endTime !== undefined) {
        const start = Number(query.startTime ?? 0);
        const end = Number(query.endTime ?? Number.MAX_SAFE_INTEGER);
        if (end - start > 3_600_000) {
          reply(400, { code: -1127, msg: 'More than 1 hours between startTime and endTime.' });
          return;
        }
        selected = aggregates.filter((agg) => agg.T >= start && agg.T <= end);
      } else {
        selected = aggregates.slice(-limit);
      }
      reply(200, selected.slice(0, limit));
      return;
    }
    reply(404, { code: -1000, msg: `unknown endpoint ${url.pathname}` });
  }

  /** GET /api/v3/klines: the closed candles with open time in [startTime, endTime], the first `limit`. */
  private klinesReply(query: Record<string, string>, reply: (status: number, body: unknown) => void): void {
    if (query.symbol !== KLINE_SYMBOL) {
      reply(400, { code: -1121, msg: 'Invalid symbol.' });
      return;
    }
    if (query.interval !== '1m') {
      reply(400, { code: -1120, msg: 'Invalid interval.' });
      return;
    }
    const limit = pageLimit(query, reply);
    if (limit === undefined) return;
    const closed = this.klines.slice(0, this.klinesClosed);
    const start = query.startTime === undefined ? undefined : Number(query.startTime);
    const end = Number(query.endTime ?? Number.MAX_SAFE_INTEGER);
    const inSpan = closed.filter((kline) => (start === undefined || kline[0] >= start) && kline[0] <= end);
    // With startTime Binance pages forward from it; without, it answers the latest `limit`.
    reply(200, start === undefined ? inSpan.slice(-limit) : inSpan.slice(0, limit));
  }
}

interface AggTrade {
  a: number;
  p: string;
  q: string;
  f: number;
  l: number;
  T: number;
  m: boolean;
  M: boolean;
}

/**
 * Binance's aggregate trades: consecutive trades of one taker order at one price (here: same time,
 * price and side) make one aggregate. Aggregate ids are the index of the aggregate plus a base.
 */
function aggregate(trades: readonly SourceTrade[]): AggTrade[] {
  const out: AggTrade[] = [];
  for (const trade of trades) {
    const last = out[out.length - 1];
    if (last && last.T === trade.time && last.p === trade.price && last.m === trade.isBuyerMaker) {
      last.l = trade.id;
      last.q = (Number(last.q) + Number(trade.qty)).toFixed(8);
      continue;
    }
    out.push({
      a: 450_000_000 + out.length,
      p: trade.price,
      q: trade.qty,
      f: trade.id,
      l: trade.id,
      T: trade.time,
      m: trade.isBuyerMaker,
      M: true,
    });
  }
  return out;
}

function lowerBound<T>(items: readonly T[], atOrAfter: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const item = items[middle];
    if (item !== undefined && atOrAfter(item)) high = middle;
    else low = middle + 1;
  }
  return low;
}
