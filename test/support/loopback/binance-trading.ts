// TEST FIXTURE, not production code: a Binance spot *trading* server on a free 127.0.0.1 port for the
// ccxt broker's tests (actors/execution/brokers/ccxt.ts). It speaks the parts of Binance's documented
// spot API (github.com/binance/binance-spot-api-docs: rest-api.md, web-socket-api.md,
// user-data-stream.md, errors.md) that ccxt 4.5's binance class calls for trading:
//   REST  GET    /api/v3/exchangeInfo  BTCUSDT with its real filters (./binance.ts); ADABTC listed in
//                                      status BREAK (orders on it: -2010 "Market is closed.")
//         GET    /api/v3/ping
//         POST   /api/v3/order         MARKET, LIMIT, STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT,
//                                      TAKE_PROFIT_LIMIT; GTC/IOC/FOK; newOrderRespType ACK/RESULT/FULL
//         GET    /api/v3/order         by orderId or origClientOrderId (-2013 "Order does not exist.")
//         DELETE /api/v3/order         by orderId or origClientOrderId (-2011 "Unknown order sent.")
//         GET    /api/v3/openOrders    one symbol or all
//         GET    /api/v3/myTrades      symbol + startTime/endTime (at most 24 h apart; one of them: the
//                                      24 h from or to it) | fromId (ids >= it) | orderId; else the latest
//         GET    /api/v3/account       balances (free, locked)
//   Every signed endpoint checks X-MBX-APIKEY (-2014/-2015), timestamp and recvWindow against this
//   machine's clock (-1021) and the HMAC-SHA256 signature of query string + body (-1022), as Binance does.
//   WS    /ws-api/v3 (the WebSocket API): userDataStream.subscribe.signature (signed the same way),
//         userDataStream.unsubscribe, ping; then the account's events wrapped as
//         {"subscriptionId": n, "event": {...}}: executionReport and outboundAccountPosition. (Binance
//         removed the listenKey REST endpoints in 2025; ccxt subscribes spot user data this way.)
// Order state is real: balances move and lock as on Binance (a buy locks quote, a sell base; commission,
// default the standard 0.1%, comes out of the asset received), a client order id is unique among OPEN
// orders only (a duplicate of an open one: -2010 "Duplicate order sent."; once closed it may be reused,
// as Binance documents), filters are enforced (-1013 "Filter failure: LOT_SIZE" / PRICE_FILTER /
// NOTIONAL / MARKET_LOT_SIZE), a stop whose trigger is already met is refused (-2010 "Order would
// trigger immediately."), too little balance is refused (-2010 "Account has insufficient balance for
// requested action.").
// Fills come from the REAL trades of ../shared/data/binance-btcusdt-ticks (Binance BTCUSDT, 2021-01-08)
// as a playhead advances (`advance`): the last printed trade is the last price and the exchange's
// clock (every time the fixture reports is tape time). Orders that can execute at once (market orders,
// marketable limits, stops when triggered) fill in full at the last price as taker; resting limits fill
// as maker at their limit price from each printed trade that reaches them, up to that trade's quantity,
// so a resting order fills in parts as the real trade sizes come.
// Injectable faults: 429 with Retry-After (-1003); an order answer delayed past the client's timeout
// while the order is placed; the next executionReport sent twice; user streams dropped or refused; a
// cancel that loses the race to a fill; an order placed by hand; any answer replaced by a hostile one;
// raw frames injected into the user stream.
import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WebSocket } from 'ws';
import {
  EXCHANGE_INFO_KLINE_SYMBOL,
  EXCHANGE_INFO_SYMBOL,
  loadSourceTrades,
  type SourceTrade,
} from './binance.ts';
import { closeLoopback, type LoopbackListener, listenOnLoopback } from './listener.ts';

const SYMBOL = EXCHANGE_INFO_SYMBOL.symbol;
const BASE = EXCHANGE_INFO_SYMBOL.baseAsset;
const QUOTE = EXCHANGE_INFO_SYMBOL.quoteAsset;
const CLOSED_SYMBOL = EXCHANGE_INFO_KLINE_SYMBOL.symbol;
const DAY_MS = 86_400_000;

// Amounts are fixed-point integers of 1e-8, Binance's precision, so balances add up exactly.
const SCALE = 100_000_000n;
const DECIMAL_PARAM = /^([0-9]{1,20})(\.[0-9]{1,20})?$/;

/** A decimal string as a count of 1e-8, or undefined when it has more than 8 significant decimals. */
function units(text: string): bigint | undefined {
  const [whole = '0', fraction = ''] = text.split('.');
  if (fraction.length > 8 && !/^0*$/.test(fraction.slice(8))) return undefined;
  return BigInt(whole) * SCALE + BigInt(fraction.slice(0, 8).padEnd(8, '0'));
}

/** Binance's 8-decimal text. */
function decimal(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const magnitude = value < 0n ? -value : value;
  return `${sign}${magnitude / SCALE}.${(magnitude % SCALE).toString().padStart(8, '0')}`;
}

/** a × b of two 1e-8 amounts, truncated to 1e-8 (Binance rounds amounts down). */
const times = (a: bigint, b: bigint): bigint => (a * b) / SCALE;
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

function filterValue(type: string, field: string): bigint {
  const filter = EXCHANGE_INFO_SYMBOL.filters.find((entry) => entry.filterType === type) as
    | Record<string, unknown>
    | undefined;
  const value = filter?.[field];
  const parsed = typeof value === 'string' ? units(value) : undefined;
  if (parsed === undefined) throw new Error(`fixture: ${type}.${field} missing`);
  return parsed;
}

/** BTCUSDT's filters, read from the exchangeInfo the fixture serves so the two cannot disagree. */
const RULES = {
  tickSize: filterValue('PRICE_FILTER', 'tickSize'),
  minPrice: filterValue('PRICE_FILTER', 'minPrice'),
  maxPrice: filterValue('PRICE_FILTER', 'maxPrice'),
  stepSize: filterValue('LOT_SIZE', 'stepSize'),
  minQty: filterValue('LOT_SIZE', 'minQty'),
  maxQty: filterValue('LOT_SIZE', 'maxQty'),
  marketMaxQty: filterValue('MARKET_LOT_SIZE', 'maxQty'),
  minNotional: filterValue('NOTIONAL', 'minNotional'),
  maxNotional: filterValue('NOTIONAL', 'maxNotional'),
};

type Side = 'BUY' | 'SELL';
type OrderType = 'MARKET' | 'LIMIT' | 'STOP_LOSS' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT' | 'TAKE_PROFIT_LIMIT';
type TimeInForce = 'GTC' | 'IOC' | 'FOK';
type OrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED';
type ExecutionType = 'NEW' | 'TRADE' | 'CANCELED' | 'EXPIRED';

const ORDER_TYPES: readonly OrderType[] = [
  'MARKET',
  'LIMIT',
  'STOP_LOSS',
  'STOP_LOSS_LIMIT',
  'TAKE_PROFIT',
  'TAKE_PROFIT_LIMIT',
];
const TRIGGERED_TYPES: readonly OrderType[] = [
  'STOP_LOSS',
  'STOP_LOSS_LIMIT',
  'TAKE_PROFIT',
  'TAKE_PROFIT_LIMIT',
];
const PRICED_TYPES: readonly OrderType[] = ['LIMIT', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'];

interface BookOrder {
  readonly symbol: string;
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly origQty: bigint;
  /** Limit price; 0 for market and stop-market orders. */
  readonly price: bigint;
  /** Trigger price; 0 for orders without one. */
  readonly stopPrice: bigint;
  readonly time: number;
  executedQty: bigint;
  cumQuote: bigint;
  status: OrderStatus;
  updateTime: number;
  /** Stop and take-profit orders wait for their trigger; everything else works at once. */
  working: boolean;
  workingTime: number;
  /** What the order still holds of the account (quote for a buy, base for a sell). */
  locked: bigint;
}

/** A new order's parameters once Binance's checks passed. */
interface NewOrder {
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly quantity: bigint;
  readonly price: bigint;
  readonly stopPrice: bigint;
}

interface AccountTrade {
  readonly id: number;
  readonly orderId: number;
  readonly price: bigint;
  readonly qty: bigint;
  readonly quoteQty: bigint;
  readonly commission: bigint;
  readonly commissionAsset: string;
  readonly time: number;
  readonly isBuyer: boolean;
  readonly isMaker: boolean;
}

interface Balance {
  free: bigint;
  locked: bigint;
}

/** A Binance error answer: HTTP status, code and message. */
class BinanceError {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
  ) {}
}

const rejected = (msg: string) => new BinanceError(400, -2010, msg);
const filterFailure = (filter: string) => new BinanceError(400, -1013, `Filter failure: ${filter}`);
const mandatory = (name: string) =>
  new BinanceError(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);

/** An order as the tests see it: Binance's own fields. */
export interface FixtureOrder {
  readonly symbol: string;
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly status: OrderStatus;
  readonly origQty: string;
  readonly executedQty: string;
}

export interface FixtureCall {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly status: number;
}

export interface BinanceTradingOptions {
  readonly apiKey: string;
  readonly secret: string;
  /** Starting balances by asset, decimal strings. Default 10,000 USDT and 0.5 BTC. */
  readonly balances?: Readonly<Record<string, string>>;
  /** Commission of every execution, out of the asset received. Default "0.001" (Binance's standard 0.1%). */
  readonly commissionRate?: string;
  /** The tape; defaults to the real source trades. */
  readonly trades?: readonly SourceTrade[];
  /** Trades already printed at start (the last is the last price). Default 1. */
  readonly printed?: number;
}

/** What an order placed by hand (Binance's web page, say) asks for. */
export interface HandOrder {
  readonly side: Side;
  readonly type: OrderType;
  readonly quantity: string;
  readonly price?: string;
  readonly stopPrice?: string;
  readonly timeInForce?: TimeInForce;
  /** Binance's web front end names its orders `web_` + 32 hex; the default is one of those. */
  readonly clientOrderId?: string;
}

interface UserSubscription {
  readonly socket: WebSocket;
  readonly subscriptionId: number;
}

interface HostileAnswer {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly body: string;
}

export class BinanceTradingLoopback {
  /** Every REST call, in order. */
  readonly calls: FixtureCall[] = [];
  private readonly trades: readonly SourceTrade[];
  private printed: number;
  private readonly balances = new Map<string, Balance>();
  private readonly book: BookOrder[] = [];
  private readonly fills: AccountTrade[] = [];
  private readonly subscriptions: UserSubscription[] = [];
  private readonly commissionRate: bigint;
  private nextOrderId = 28_000_000_000;
  private nextTradeId = 3_100_000_000;
  private nextExecutionId = 60_000_000_000;
  private nextCancelId = 1;
  // Faults.
  private rateLimited: { count: number; retryAfterSeconds: number; route: string | undefined } = {
    count: 0,
    retryAfterSeconds: 1,
    route: undefined,
  };
  private orderAnswerDelayMs = 0;
  private duplicateReports = 0;
  private refusingUserStreams = false;
  private cancelLosesRace = false;
  private readonly hostileAnswers: HostileAnswer[] = [];

  private constructor(
    private readonly listener: LoopbackListener,
    private readonly options: BinanceTradingOptions,
  ) {
    this.trades = options.trades ?? loadSourceTrades();
    this.printed = Math.max(1, options.printed ?? 1);
    this.commissionRate = units(options.commissionRate ?? '0.001') ?? 0n;
    for (const [asset, amount] of Object.entries(options.balances ?? { [QUOTE]: '10000', [BASE]: '0.5' })) {
      this.balances.set(asset, { free: units(amount) ?? 0n, locked: 0n });
    }
  }

  static async start(options: BinanceTradingOptions): Promise<BinanceTradingLoopback> {
    const listener = await listenOnLoopback({
      onRequest: (request, response) => {
        server.onRequest(request, response).catch((error: unknown) => {
          if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ code: -1000, msg: `fixture: ${String(error)}` }));
        });
      },
      acceptsUpgrade: (request) => request.url === '/ws-api/v3' && !server.refusingUserStreams,
      onSocket: (socket) => server.onSocket(socket),
    });
    const server = new BinanceTradingLoopback(listener, options);
    return server;
  }

  get port(): number {
    return this.listener.port;
  }

  /** ccxt's `urls.api.public` and `urls.api.private` for Binance spot. */
  get restUrl(): string {
    return `http://127.0.0.1:${this.port}/api/v3`;
  }

  /** ccxt's `urls.api.ws['ws-api'].spot`: the WebSocket API. */
  get wsApiUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws-api/v3`;
  }

  /** The exchange's clock: the time of the last printed trade. */
  get now(): number {
    return this.trades[this.printed - 1]?.time ?? 0;
  }

  get lastPrice(): string {
    return this.trades[this.printed - 1]?.price ?? '0';
  }

  /** Prints the next `count` trades of the tape (fewer at its end); returns how many printed. */
  advance(count = 1): number {
    let done = 0;
    while (done < count && this.printed < this.trades.length) {
      const trade = this.trades[this.printed];
      this.printed++;
      done++;
      if (trade) this.onTapeTrade(trade);
    }
    return done;
  }

  /** Prints trades until `condition` holds or the tape ends; returns whether it holds. */
  advanceUntil(condition: () => boolean): boolean {
    while (!condition()) if (this.advance(1) === 0) return false;
    return true;
  }

  orders(): FixtureOrder[] {
    return this.book.map((order) => ({
      symbol: order.symbol,
      orderId: order.orderId,
      clientOrderId: order.clientOrderId,
      side: order.side,
      type: order.type,
      status: order.status,
      origQty: decimal(order.origQty),
      executedQty: decimal(order.executedQty),
    }));
  }

  balance(asset: string): { free: string; locked: string } {
    const balance = this.balances.get(asset) ?? { free: 0n, locked: 0n };
    return { free: decimal(balance.free), locked: decimal(balance.locked) };
  }

  /** A withdrawal of `amount` (decimal) of `asset`'s free balance: the balance moves without a trade. */
  withdraw(asset: string, amount: string): void {
    const balance = this.balanceOf(asset);
    const taken = units(amount) ?? 0n;
    if (taken > balance.free) throw new Error(`withdraw: only ${decimal(balance.free)} ${asset} free`);
    balance.free -= taken;
  }

  /** Open user-stream subscriptions (sockets × subscriptions). */
  get userStreams(): number {
    return this.subscriptions.length;
  }

  // --- faults ---------------------------------------------------------------------------------------

  /**
   * The next `count` signed requests (to `route` only, `METHOD /path`, when given) answer 429 with
   * Retry-After and Binance's -1003.
   */
  rateLimitNext(count: number, retryAfterSeconds = 1, route?: string): void {
    this.rateLimited = { count, retryAfterSeconds, route };
  }

  /** The next POST /api/v3/order is carried out at once but answered only after `ms`. */
  delayNextOrderAnswer(ms: number): void {
    this.orderAnswerDelayMs = ms;
  }

  /** The next executionReport goes out twice (as Binance may resend after a reconnect of its own). */
  duplicateNextReport(): void {
    this.duplicateReports++;
  }

  /** Drops every user-stream socket; with `refuse`, new ones are refused until called with false. */
  dropUserStreams(refuse = false): void {
    this.refusingUserStreams = refuse;
    for (const { socket } of this.subscriptions.splice(0)) socket.terminate();
    for (const socket of this.listener.wss.clients) socket.terminate();
  }

  /** Lets user-stream sockets in again after dropUserStreams(true). */
  allowUserStreams(): void {
    this.refusingUserStreams = false;
  }

  /**
   * The next cancel loses the race: before it reaches the matching engine the tape prints until the
   * order is filled, so the cancel meets a filled order (-2011 "Unknown order sent.").
   */
  fillBeforeNextCancel(): void {
    this.cancelLosesRace = true;
  }

  /**
   * The next `method path` request is carried out as usual and then answered with `body` (any text)
   * and `status` instead: a hostile or broken answer.
   */
  answerNextWith(method: string, path: string, status: number, body: string): void {
    this.hostileAnswers.push({ method, path, status, body });
  }

  /** Sends `frame` as is (a string) or JSON-encoded to every user-stream socket. */
  injectUserFrame(frame: unknown): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    for (const socket of this.listener.wss.clients) socket.send(text);
  }

  /** Wraps `event` as the WebSocket API sends user data, for injectUserFrame. */
  userEvent(event: Record<string, unknown>): Record<string, unknown> {
    return { subscriptionId: this.subscriptions[0]?.subscriptionId ?? 0, event };
  }

  /** An order placed outside the client under test (by hand on Binance's web page). */
  placeByHand(order: HandOrder): FixtureOrder {
    const placed = this.place({
      symbol: SYMBOL,
      side: order.side,
      type: order.type,
      quantity: order.quantity,
      ...(order.price ? { price: order.price } : {}),
      ...(order.stopPrice ? { stopPrice: order.stopPrice } : {}),
      ...(order.timeInForce ? { timeInForce: order.timeInForce } : {}),
      newClientOrderId: order.clientOrderId ?? `web_${(this.nextOrderId + 1).toString(16).padStart(32, '0')}`,
    });
    if (placed instanceof BinanceError) throw new Error(`fixture: hand order refused: ${placed.msg}`);
    const view = this.orders().find((entry) => entry.orderId === placed.order.orderId);
    if (!view) throw new Error('fixture: hand order lost');
    return view;
  }

  async close(): Promise<void> {
    await closeLoopback(this.listener);
  }

  // --- REST ----------------------------------------------------------------------------------------

  private async onRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${this.port}`);
    const query = url.search.slice(1);
    const params: Record<string, string> = {};
    for (const [key, value] of new URLSearchParams(query)) params[key] ??= value;
    for (const [key, value] of new URLSearchParams(body)) params[key] ??= value;
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const hostile = this.hostileAnswers.findIndex((entry) => entry.method === method && entry.path === path);
    const send = (status: number, text: string, headers: Record<string, string> = {}): void => {
      this.calls.push({ method, path, params, status });
      if (response.destroyed) return; // the client gave up waiting
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(text);
    };
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      const answer = hostile >= 0 ? this.hostileAnswers.splice(hostile, 1)[0] : undefined;
      if (answer) send(answer.status, answer.body);
      else send(status, JSON.stringify(payload), headers);
    };
    const fail = (error: BinanceError, headers: Record<string, string> = {}): void =>
      reply(error.status, { code: error.code, msg: error.msg }, headers);

    if (method === 'GET' && path === '/api/v3/exchangeInfo') return reply(200, this.exchangeInfo());
    if (method === 'GET' && path === '/api/v3/ping') return reply(200, {});
    const limited = this.rateLimited;
    if (limited.count > 0 && (limited.route === undefined || limited.route === `${method} ${path}`)) {
      limited.count--;
      return fail(
        new BinanceError(
          429,
          -1003,
          'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use WebSocket Streams for live updates to avoid bans.',
        ),
        { 'retry-after': String(limited.retryAfterSeconds) },
      );
    }
    const refusal = this.checkSigned(request, query, body, params);
    if (refusal) return fail(refusal);

    let result: unknown;
    if (path === '/api/v3/order' && method === 'POST') result = this.newOrder(params);
    else if (path === '/api/v3/order' && method === 'GET') result = this.queryOrder(params);
    else if (path === '/api/v3/order' && method === 'DELETE') result = this.cancelOrder(params);
    else if (path === '/api/v3/openOrders' && method === 'GET') result = this.openOrders(params);
    else if (path === '/api/v3/myTrades' && method === 'GET') result = this.myTrades(params);
    else if (path === '/api/v3/account' && method === 'GET') result = this.account(params);
    else result = new BinanceError(404, -1000, `unknown endpoint ${method} ${path}`);
    if (result instanceof BinanceError) return fail(result);

    const delayMs = path === '/api/v3/order' && method === 'POST' ? this.orderAnswerDelayMs : 0;
    if (delayMs > 0) {
      this.orderAnswerDelayMs = 0;
      setTimeout(() => reply(200, result), delayMs);
      return;
    }
    reply(200, result);
  }

  /** Binance's SIGNED endpoint security: API key, timing, then the HMAC of query string + body. */
  private checkSigned(
    request: IncomingMessage,
    query: string,
    body: string,
    params: Record<string, string>,
  ): BinanceError | undefined {
    const apiKey = request.headers['x-mbx-apikey'];
    if (typeof apiKey !== 'string' || apiKey.length === 0) {
      return new BinanceError(401, -2014, 'API-key format invalid.');
    }
    if (apiKey !== this.options.apiKey) {
      return new BinanceError(401, -2015, 'Invalid API-key, IP, or permissions for action.');
    }
    const timing = this.checkTiming(params);
    if (timing) return timing;
    const unsigned = (text: string) => text.replace(/(^|&)signature=[^&]*/, '');
    const expected = this.hmac(unsigned(query) + unsigned(body));
    if ((params.signature ?? '').toLowerCase() !== expected) {
      return new BinanceError(400, -1022, 'Signature for this request is not valid.');
    }
    return undefined;
  }

  private checkTiming(params: Record<string, unknown>): BinanceError | undefined {
    const timestamp = Number(params.timestamp);
    if (!Number.isFinite(timestamp)) return mandatory('timestamp');
    const recvWindow = params.recvWindow === undefined ? 5000 : Number(params.recvWindow);
    if (!(recvWindow <= 60_000)) return new BinanceError(400, -1131, 'recvWindow must be less than 60000');
    const serverTime = Date.now();
    if (!(timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow)) {
      return new BinanceError(400, -1021, 'Timestamp for this request is outside of the recvWindow.');
    }
    return undefined;
  }

  private hmac(payload: string): string {
    return createHmac('sha256', this.options.secret).update(payload).digest('hex');
  }

  private exchangeInfo(): Record<string, unknown> {
    return {
      timezone: 'UTC',
      serverTime: this.now,
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
      ],
      exchangeFilters: [],
      symbols: [EXCHANGE_INFO_SYMBOL, { ...EXCHANGE_INFO_KLINE_SYMBOL, status: 'BREAK' }],
    };
  }

  private newOrder(params: Record<string, string>): Record<string, unknown> | BinanceError {
    const placed = this.place(params);
    if (placed instanceof BinanceError) return placed;
    const { order, executions } = placed;
    const ack = {
      symbol: order.symbol,
      orderId: order.orderId,
      orderListId: -1,
      clientOrderId: order.clientOrderId,
      transactTime: order.time,
    };
    const respType =
      params.newOrderRespType ?? (order.type === 'MARKET' || order.type === 'LIMIT' ? 'FULL' : 'ACK');
    if (respType === 'ACK') return ack;
    const result = { ...this.orderFields(order, 'placed'), ...ack };
    if (respType === 'RESULT') return result;
    return {
      ...result,
      fills: executions.map((fill) => ({
        price: decimal(fill.price),
        qty: decimal(fill.qty),
        commission: decimal(fill.commission),
        commissionAsset: fill.commissionAsset,
        tradeId: fill.id,
      })),
    };
  }

  private queryOrder(params: Record<string, string>): Record<string, unknown> | BinanceError {
    const order = this.findOrder(params);
    if (order instanceof BinanceError) return order;
    return order ? this.orderFields(order, 'query') : new BinanceError(400, -2013, 'Order does not exist.');
  }

  private cancelOrder(params: Record<string, string>): Record<string, unknown> | BinanceError {
    const order = this.findOrder(params);
    if (order instanceof BinanceError) return order;
    if (order && this.cancelLosesRace) {
      this.cancelLosesRace = false;
      this.advanceUntil(() => !isOpen(order));
    }
    if (!order || !isOpen(order)) return new BinanceError(400, -2011, 'Unknown order sent.');
    const cancelId = params.newClientOrderId ?? `cancel-${this.nextCancelId++}`;
    this.finish(order, 'CANCELED', cancelId);
    return {
      ...this.orderFields(order, 'placed'),
      symbol: order.symbol,
      origClientOrderId: order.clientOrderId,
      orderId: order.orderId,
      orderListId: -1,
      clientOrderId: cancelId,
      transactTime: this.now,
    };
  }

  private openOrders(params: Record<string, string>): unknown[] | BinanceError {
    if (params.symbol !== undefined && params.symbol !== SYMBOL && params.symbol !== CLOSED_SYMBOL) {
      return new BinanceError(400, -1121, 'Invalid symbol.');
    }
    return this.book
      .filter((order) => isOpen(order) && (params.symbol === undefined || order.symbol === params.symbol))
      .map((order) => this.orderFields(order, 'query'));
  }

  private myTrades(params: Record<string, string>): unknown[] | BinanceError {
    if (params.symbol === undefined) return mandatory('symbol');
    if (params.symbol !== SYMBOL && params.symbol !== CLOSED_SYMBOL) {
      return new BinanceError(400, -1121, 'Invalid symbol.');
    }
    const limit = params.limit === undefined ? 500 : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return new BinanceError(
        400,
        -1100,
        "Illegal characters found in parameter 'limit'; legal range is '1-1000'.",
      );
    }
    const start = params.startTime === undefined ? undefined : Number(params.startTime);
    const end = params.endTime === undefined ? undefined : Number(params.endTime);
    if (start !== undefined && end !== undefined && end - start > DAY_MS) {
      return new BinanceError(400, -1127, 'More than 24 hours between startTime and endTime.');
    }
    let selected = this.fills.filter(
      (fill) =>
        params.symbol === SYMBOL && (params.orderId === undefined || fill.orderId === Number(params.orderId)),
    );
    if (params.fromId !== undefined) {
      selected = selected.filter((fill) => fill.id >= Number(params.fromId)).slice(0, limit);
    } else if (start !== undefined || end !== undefined) {
      // One side given: the 24 hours from startTime, or up to endTime.
      const from = start ?? (end ?? 0) - DAY_MS;
      const to = end ?? from + DAY_MS;
      selected = selected.filter((fill) => fill.time >= from && fill.time <= to).slice(0, limit);
    } else {
      selected = selected.slice(-limit);
    }
    return selected.map((fill) => ({
      symbol: SYMBOL,
      id: fill.id,
      orderId: fill.orderId,
      orderListId: -1,
      price: decimal(fill.price),
      qty: decimal(fill.qty),
      quoteQty: decimal(fill.quoteQty),
      commission: decimal(fill.commission),
      commissionAsset: fill.commissionAsset,
      time: fill.time,
      isBuyer: fill.isBuyer,
      isMaker: fill.isMaker,
      isBestMatch: true,
    }));
  }

  private account(params: Record<string, string>): Record<string, unknown> {
    const rate = decimal(this.commissionRate);
    const basisPoints = Number(this.commissionRate / (SCALE / 10_000n));
    const balances = [...this.balances.entries()]
      .filter(([, balance]) => params.omitZeroBalances !== 'true' || balance.free + balance.locked > 0n)
      .map(([asset, balance]) => ({ asset, free: decimal(balance.free), locked: decimal(balance.locked) }));
    return {
      makerCommission: basisPoints,
      takerCommission: basisPoints,
      buyerCommission: 0,
      sellerCommission: 0,
      commissionRates: { maker: rate, taker: rate, buyer: '0.00000000', seller: '0.00000000' },
      canTrade: true,
      canWithdraw: true,
      canDeposit: true,
      brokered: false,
      requireSelfTradePrevention: false,
      preventSor: false,
      updateTime: this.now,
      accountType: 'SPOT',
      balances,
      permissions: ['SPOT'],
      uid: 354_937_868,
    };
  }

  /** By orderId (then checked against origClientOrderId) or by origClientOrderId: the latest with it. */
  private findOrder(params: Record<string, string>): BookOrder | undefined | BinanceError {
    if (params.symbol === undefined) return mandatory('symbol');
    const clientId = params.origClientOrderId;
    if (params.orderId === undefined && clientId === undefined) {
      return new BinanceError(
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
      );
    }
    const candidates = this.book.filter(
      (order) =>
        order.symbol === params.symbol &&
        (params.orderId === undefined || order.orderId === Number(params.orderId)) &&
        (clientId === undefined || order.clientOrderId === clientId),
    );
    return candidates[candidates.length - 1];
  }

  /** An order's fields as GET /api/v3/order gives them, or as placement and cancel answers carry them. */
  private orderFields(order: BookOrder, shape: 'query' | 'placed'): Record<string, unknown> {
    const common = {
      symbol: order.symbol,
      orderId: order.orderId,
      orderListId: -1,
      clientOrderId: order.clientOrderId,
      price: decimal(order.price),
      origQty: decimal(order.origQty),
      executedQty: decimal(order.executedQty),
      origQuoteOrderQty: '0.00000000',
      cummulativeQuoteQty: decimal(order.cumQuote),
      status: order.status,
      timeInForce: order.timeInForce,
      type: order.type,
      side: order.side,
      ...(order.stopPrice > 0n ? { stopPrice: decimal(order.stopPrice) } : {}),
      workingTime: order.working ? order.workingTime : -1,
      selfTradePreventionMode: 'EXPIRE_MAKER',
    };
    if (shape === 'placed') return common;
    return {
      ...common,
      stopPrice: decimal(order.stopPrice),
      icebergQty: '0.00000000',
      time: order.time,
      updateTime: order.updateTime,
      isWorking: order.working,
    };
  }

  // --- the matching engine -------------------------------------------------------------------------

  /** Validates and places an order; executes what can execute at once. */
  private place(
    params: Record<string, string>,
  ): { order: BookOrder; executions: AccountTrade[] } | BinanceError {
    const checked = this.checkNewOrder(params);
    if (checked instanceof BinanceError) return checked;
    const { side, type, timeInForce, quantity, price, stopPrice } = checked;
    const clientOrderId = params.newClientOrderId ?? `x-fixture-${this.nextOrderId + 1}`;
    if (this.book.some((order) => isOpen(order) && order.clientOrderId === clientOrderId)) {
      return rejected('Duplicate order sent.');
    }
    const last = units(this.lastPrice) ?? 0n;
    if (stopPrice > 0n && triggered(type, side, stopPrice, last))
      return rejected('Order would trigger immediately.');
    // What the order holds: quote at its limit (or stop) price for a buy, base for a sell. A market buy
    // holds nothing but needs its cost at the last price free now.
    const holdAsset = side === 'BUY' ? QUOTE : BASE;
    const hold = side === 'SELL' ? quantity : type === 'MARKET' ? 0n : times(quantity, price || stopPrice);
    const needed = side === 'BUY' && type === 'MARKET' ? times(quantity, last) : hold;
    const balance = this.balanceOf(holdAsset);
    if (balance.free < needed) return rejected('Account has insufficient balance for requested action.');
    balance.free -= hold;
    balance.locked += hold;
    const now = this.now;
    const order: BookOrder = {
      symbol: SYMBOL,
      orderId: ++this.nextOrderId,
      clientOrderId,
      side,
      type,
      timeInForce,
      origQty: quantity,
      price,
      stopPrice,
      time: now,
      executedQty: 0n,
      cumQuote: 0n,
      status: 'NEW',
      updateTime: now,
      working: !TRIGGERED_TYPES.includes(type),
      workingTime: now,
      locked: hold,
    };
    this.book.push(order);
    this.report(order, 'NEW');
    this.accountPosition([holdAsset]);
    const before = this.fills.length;
    if (order.working) this.executeAtOnce(order, last);
    return { order, executions: this.fills.slice(before) };
  }

  private checkNewOrder(params: Record<string, string>): NewOrder | BinanceError {
    for (const name of ['symbol', 'side', 'type']) if (!params[name]) return mandatory(name);
    if (params.symbol === CLOSED_SYMBOL) return rejected('Market is closed.');
    if (params.symbol !== SYMBOL) return new BinanceError(400, -1121, 'Invalid symbol.');
    const side = params.side;
    if (side !== 'BUY' && side !== 'SELL') return new BinanceError(400, -1117, 'Invalid side.');
    const type = ORDER_TYPES.find((entry) => entry === params.type);
    if (!type) return new BinanceError(400, -1116, 'Invalid orderType.');
    const needsPrice = PRICED_TYPES.includes(type);
    const needsStop = TRIGGERED_TYPES.includes(type);
    // Binance refuses a parameter the order type does not take.
    if (!needsPrice && params.timeInForce !== undefined) {
      return new BinanceError(400, -1106, "Parameter 'timeInForce' sent when not required.");
    }
    if (!needsPrice && params.price !== undefined) {
      return new BinanceError(400, -1106, "Parameter 'price' sent when not required.");
    }
    if (!needsStop && params.stopPrice !== undefined) {
      return new BinanceError(400, -1106, "Parameter 'stopPrice' sent when not required.");
    }
    const timeInForce = needsPrice ? params.timeInForce : 'GTC';
    if (timeInForce === undefined) return mandatory('timeInForce');
    if (timeInForce !== 'GTC' && timeInForce !== 'IOC' && timeInForce !== 'FOK') {
      return new BinanceError(400, -1115, 'Invalid timeInForce.');
    }
    const amounts: Record<'quantity' | 'price' | 'stopPrice', bigint> = {
      quantity: 0n,
      price: 0n,
      stopPrice: 0n,
    };
    for (const name of ['quantity', 'price', 'stopPrice'] as const) {
      const required = name === 'quantity' || (name === 'price' ? needsPrice : needsStop);
      const text = params[name];
      if (text === undefined) {
        if (required) return mandatory(name);
        continue;
      }
      if (!DECIMAL_PARAM.test(text)) {
        return new BinanceError(
          400,
          -1100,
          `Illegal characters found in parameter '${name}'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.`,
        );
      }
      const value = units(text);
      if (value === undefined)
        return new BinanceError(400, -1111, `Parameter '${name}' has too much precision.`);
      amounts[name] = value;
    }
    const { quantity, price, stopPrice } = amounts;
    for (const value of [price, stopPrice]) {
      if (value === 0n) continue;
      if (value < RULES.minPrice || value > RULES.maxPrice || value % RULES.tickSize !== 0n) {
        return filterFailure('PRICE_FILTER');
      }
    }
    if (quantity < RULES.minQty || quantity > RULES.maxQty || quantity % RULES.stepSize !== 0n) {
      return filterFailure('LOT_SIZE');
    }
    const isMarket = type === 'MARKET' || type === 'STOP_LOSS' || type === 'TAKE_PROFIT';
    if (isMarket && quantity > RULES.marketMaxQty) return filterFailure('MARKET_LOT_SIZE');
    const reference = price || (type === 'MARKET' ? (units(this.lastPrice) ?? 0n) : stopPrice);
    const notional = times(quantity, reference);
    if (notional < RULES.minNotional || notional > RULES.maxNotional) return filterFailure('NOTIONAL');
    return { side, type, timeInForce, quantity, price, stopPrice };
  }

  /** A working order meets the last price: a market order fills, a marketable limit fills, the rest rest. */
  private executeAtOnce(order: BookOrder, last: bigint): void {
    const isMarket = order.price === 0n;
    const marketable = isMarket || (order.side === 'BUY' ? last <= order.price : last >= order.price);
    if (marketable) {
      this.execute(order, order.origQty - order.executedQty, last, false);
      return;
    }
    // IOC and FOK take only what is there now: nothing.
    if (order.timeInForce !== 'GTC') this.finish(order, 'EXPIRED');
  }

  /** One printed trade: stops it reaches trigger, resting limits it reaches fill, in time priority. */
  private onTapeTrade(trade: SourceTrade): void {
    const price = units(trade.price) ?? 0n;
    let available = units(trade.qty) ?? 0n;
    for (const order of this.book) {
      if (!isOpen(order)) continue;
      if (!order.working) {
        if (!triggered(order.type, order.side, order.stopPrice, price)) continue;
        order.working = true;
        order.workingTime = this.now;
        order.updateTime = this.now;
        if (order.price === 0n) {
          this.execute(order, order.origQty - order.executedQty, price, false);
          continue;
        }
      }
      if (order.price === 0n || available === 0n) continue;
      const reaches = order.side === 'BUY' ? price <= order.price : price >= order.price;
      if (!reaches) continue;
      const quantity = min(order.origQty - order.executedQty, available);
      available -= quantity;
      this.execute(order, quantity, order.price, true);
    }
  }

  /** One execution of `quantity` at `price`: balances, the order, the account's trade list, the reports. */
  private execute(order: BookOrder, quantity: bigint, price: bigint, maker: boolean): void {
    const quote = times(quantity, price);
    const base = this.balanceOf(BASE);
    const cash = this.balanceOf(QUOTE);
    let commission: bigint;
    if (order.side === 'BUY') {
      // Releases what this part held, pays its cost.
      const held = min(order.locked, order.price > 0n ? times(quantity, order.price) : order.locked);
      if (cash.free + held < quote) {
        this.finish(order, 'EXPIRED'); // a triggered buy stop whose cost outgrew the balance
        return;
      }
      order.locked -= held;
      cash.locked -= held;
      cash.free += held - quote;
      commission = times(quantity, this.commissionRate);
      base.free += quantity - commission;
    } else {
      order.locked -= quantity;
      base.locked -= quantity;
      commission = times(quote, this.commissionRate);
      cash.free += quote - commission;
    }
    const fill: AccountTrade = {
      id: ++this.nextTradeId,
      orderId: order.orderId,
      price,
      qty: quantity,
      quoteQty: quote,
      commission,
      commissionAsset: order.side === 'BUY' ? BASE : QUOTE,
      time: this.now,
      isBuyer: order.side === 'BUY',
      isMaker: maker,
    };
    this.fills.push(fill);
    order.executedQty += quantity;
    order.cumQuote += quote;
    order.status = order.executedQty === order.origQty ? 'FILLED' : 'PARTIALLY_FILLED';
    order.updateTime = this.now;
    if (order.status === 'FILLED') this.release(order);
    this.report(order, 'TRADE', fill);
    this.accountPosition([BASE, QUOTE]);
  }

  /** Cancels or expires an open order and returns what it held. */
  private finish(order: BookOrder, status: 'CANCELED' | 'EXPIRED', cancelClientId?: string): void {
    order.status = status;
    order.updateTime = this.now;
    this.release(order);
    this.report(order, status, undefined, cancelClientId);
    this.accountPosition([order.side === 'BUY' ? QUOTE : BASE]);
  }

  private release(order: BookOrder): void {
    const balance = this.balanceOf(order.side === 'BUY' ? QUOTE : BASE);
    balance.locked -= order.locked;
    balance.free += order.locked;
    order.locked = 0n;
  }

  private balanceOf(asset: string): Balance {
    let balance = this.balances.get(asset);
    if (!balance) {
      balance = { free: 0n, locked: 0n };
      this.balances.set(asset, balance);
    }
    return balance;
  }

  // --- the user data stream ------------------------------------------------------------------------

  private onSocket(socket: WebSocket): void {
    socket.on('message', (data) => {
      let request: { id?: unknown; method?: unknown; params?: Record<string, unknown> };
      try {
        request = JSON.parse(String(data));
      } catch {
        socket.send(
          JSON.stringify({
            id: null,
            status: 400,
            error: { code: -1100, msg: 'Illegal characters found in a parameter.' },
          }),
        );
        return;
      }
      const answer = (status: number, body: Record<string, unknown>) =>
        socket.send(JSON.stringify({ id: request.id ?? null, status, ...body }));
      const fail = (error: BinanceError) =>
        answer(error.status, { error: { code: error.code, msg: error.msg } });
      if (request.method === 'ping') return answer(200, { result: {} });
      if (request.method === 'userDataStream.subscribe.signature') {
        const refusal = this.checkSignedParams(request.params ?? {});
        if (refusal) return fail(refusal);
        const subscriptionId = this.subscriptions.filter((entry) => entry.socket === socket).length;
        this.subscriptions.push({ socket, subscriptionId });
        return answer(200, { result: { subscriptionId } });
      }
      if (request.method === 'userDataStream.unsubscribe') {
        for (let index = this.subscriptions.length - 1; index >= 0; index--) {
          if (this.subscriptions[index]?.socket === socket) this.subscriptions.splice(index, 1);
        }
        return answer(200, { result: {} });
      }
      return fail(new BinanceError(400, -1020, 'This operation is not supported.'));
    });
    socket.on('close', () => {
      for (let index = this.subscriptions.length - 1; index >= 0; index--) {
        if (this.subscriptions[index]?.socket === socket) this.subscriptions.splice(index, 1);
      }
    });
  }

  /** The WebSocket API's signature: every param but `signature`, sorted by name, `k=v` joined by `&`. */
  private checkSignedParams(params: Record<string, unknown>): BinanceError | undefined {
    if (params.apiKey !== this.options.apiKey) {
      return new BinanceError(401, -2015, 'Invalid API-key, IP, or permissions for action.');
    }
    const timing = this.checkTiming(params);
    if (timing) return timing;
    const payload = Object.keys(params)
      .filter((key) => key !== 'signature')
      .sort()
      .map((key) => `${key}=${String(params[key])}`)
      .join('&');
    if (String(params.signature ?? '').toLowerCase() !== this.hmac(payload)) {
      return new BinanceError(400, -1022, 'Signature for this request is not valid.');
    }
    return undefined;
  }

  private broadcast(event: Record<string, unknown>, copies = 1): void {
    for (const { socket, subscriptionId } of this.subscriptions) {
      const text = JSON.stringify({ subscriptionId, event });
      for (let sent = 0; sent < copies; sent++) socket.send(text);
    }
  }

  /** The executionReport Binance sends for an order change. */
  private report(
    order: BookOrder,
    execution: ExecutionType,
    fill?: AccountTrade,
    cancelClientId?: string,
  ): void {
    const now = this.now;
    const event = {
      e: 'executionReport',
      E: now,
      s: order.symbol,
      c: cancelClientId ?? order.clientOrderId,
      S: order.side,
      o: order.type,
      f: order.timeInForce,
      q: decimal(order.origQty),
      p: decimal(order.price),
      P: decimal(order.stopPrice),
      F: '0.00000000',
      g: -1,
      C: cancelClientId ? order.clientOrderId : '',
      x: execution,
      X: order.status,
      r: 'NONE',
      i: order.orderId,
      l: decimal(fill?.qty ?? 0n),
      z: decimal(order.executedQty),
      L: decimal(fill?.price ?? 0n),
      n: decimal(fill?.commission ?? 0n),
      N: fill?.commissionAsset ?? null,
      T: now,
      t: fill?.id ?? -1,
      I: ++this.nextExecutionId,
      w: isOpen(order) && order.working,
      m: fill?.isMaker ?? false,
      M: false,
      O: order.time,
      Z: decimal(order.cumQuote),
      Y: decimal(fill?.quoteQty ?? 0n),
      Q: '0.00000000',
      ...(order.working ? { W: order.workingTime } : {}),
      V: 'EXPIRE_MAKER',
    };
    const copies = this.duplicateReports > 0 ? 2 : 1;
    if (this.duplicateReports > 0 && this.subscriptions.length > 0) this.duplicateReports--;
    this.broadcast(event, copies);
  }

  /** outboundAccountPosition: the balances an event changed. */
  private accountPosition(assets: readonly string[]): void {
    this.broadcast({
      e: 'outboundAccountPosition',
      E: this.now,
      u: this.now,
      B: assets.map((asset) => {
        const balance = this.balanceOf(asset);
        return { a: asset, f: decimal(balance.free), l: decimal(balance.locked) };
      }),
    });
  }
}

function isOpen(order: BookOrder): boolean {
  return order.status === 'NEW' || order.status === 'PARTIALLY_FILLED';
}

/**
 * Whether the last price meets a trigger: a stop-loss buys as the price rises to it and sells as it
 * falls to it; a take-profit the other way round (Binance's "trigger order price rules").
 */
function triggered(type: OrderType, side: Side, stopPrice: bigint, last: bigint): boolean {
  const rising = (type === 'STOP_LOSS' || type === 'STOP_LOSS_LIMIT') === (side === 'BUY');
  return rising ? last >= stopPrice : last <= stopPrice;
}
