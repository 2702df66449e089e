// TEST FIXTURE: a loopback Alpaca Trading API v2 server on a free 127.0.0.1 port. It speaks Alpaca's
// documented trading protocol so the real broker adapter and Alpaca's real SDK can be tested without
// the internet:
// - REST with APCA-API-KEY-ID / APCA-API-SECRET-KEY headers: GET /v2/account; POST /v2/orders
//   (market, limit, stop, stop_limit; day, gtc, ioc, fok; order_class bracket with take_profit and
//   stop_loss; client_order_id unique per account, a duplicate answered 422 "client_order_id must be
//   unique"); GET /v2/orders (status, limit, after, until, direction, nested, symbols);
//   GET /v2/orders/{id}; GET /v2/orders:by_client_order_id; DELETE /v2/orders/{id} (204, 404, 422
//   "order is not cancelable"); GET /v2/positions (signed qty, side); GET
//   /v2/account/activities/FILL (after, until, direction, page_size, page_token = the last id; ids in
//   Alpaca's "<time>::<execution id>" form). Errors as Alpaca writes them: {"code":..,"message":..};
//   401 for bad credentials, 403 for insufficient buying power, 429 with X-RateLimit-* headers.
// - The trade_updates stream at /stream: {"action":"authenticate","data":{"key_id","secret_key"}} (or
//   {"action":"auth","key","secret"}) answered {"stream":"authorization","data":{"status":"authorized"
//   |"unauthorized","action":"authenticate"}}; {"action":"listen","data":{"streams":["trade_updates"]}}
//   answered {"stream":"listening",...}; then {"stream":"trade_updates","data":{"event","execution_id",
//   "timestamp","price","qty","position_qty","order"}} for new, fill, partial_fill, canceled,
//   pending_cancel, order_cancel_rejected. JSON in binary frames, as Alpaca sends them.
//
// It keeps real account state (orders with their legs, positions, cash and buying power, FILL
// activities) and fills from real recorded prices: SPY minute bars from
// ../shared/data/spy-minute-pyalgotrade (read by ./alpaca.ts's readSpyBars). The market is a playhead
// over those bars that a test moves with step(): an order is matched against the last close when it
// arrives (market orders fill, marketable limits fill, stops already through trigger) and against
// each later bar (limits fill at the better of the open and the limit, stops trigger through the
// bar's range and fill at the worse of the open and the stop). A bracket's legs are held until the
// entry fills, then work as one-cancels-other; when both could trigger in one bar, the stop-loss is
// taken first (the conservative reading of a bar). Venue times are the playhead's bar-close times.
//
// Faults to inject: a reject (insufficient buying power), 429s, an answer held past the client's
// timeout while the order is placed, a fill sent twice on the stream, a dropped or refused stream, a
// cancel that a fill beats, an order placed by hand, fills capped per match (partial fills), and any
// raw answer or stream frame (malformed, unknown status, oversized).
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AlpacaBarItem } from './alpaca.ts';

export interface AlpacaTradingLoopbackOptions {
  readonly keyId: string;
  readonly secretKey: string;
  /** Minute bars per symbol, oldest first: the market the playhead moves through. */
  readonly bars: Readonly<Record<string, readonly AlpacaBarItem[]>>;
  /** Starting cash (and buying power). Default 100,000. */
  readonly cash?: number;
  /**
   * GET /v2/assets/{symbol} answers, by symbol, over the default: every symbol with bars is a
   * fractionable us_equity; any other is 404.
   */
  readonly assets?: Readonly<Record<string, Record<string, unknown>>>;
}

type Side = 'buy' | 'sell';
type OrderType = 'market' | 'limit' | 'stop' | 'stop_limit';
type TimeInForce = 'day' | 'gtc' | 'ioc' | 'fok';
type Json = Record<string, unknown>;

interface Order {
  readonly id: string;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce: TimeInForce;
  readonly orderClass: 'simple' | 'bracket';
  readonly qty: number;
  readonly limitPrice: number | undefined;
  readonly stopPrice: number | undefined;
  readonly createdAt: number;
  filledQty: number;
  /** Sum of quantity × price of its fills. */
  filledValue: number;
  status: string;
  updatedAt: number;
  filledAt: number | undefined;
  canceledAt: number | undefined;
  /** A stop (limit) whose stop price was reached. */
  triggered: boolean;
  readonly legs: Order[];
  readonly parent: Order | undefined;
}

interface Position {
  qty: number;
  avgEntryPrice: number;
}

export interface FillActivity {
  readonly id: string;
  readonly activity_type: 'FILL';
  readonly transaction_time: string;
  readonly type: 'fill' | 'partial_fill';
  readonly price: string;
  readonly qty: string;
  readonly side: Side;
  readonly symbol: string;
  readonly leaves_qty: string;
  readonly order_id: string;
  readonly cum_qty: string;
  readonly order_status: string;
}

export interface TradingRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
}

/** An answer sent as is, whatever was asked: for hostile-answer tests. */
export interface RawAnswer {
  readonly status: number;
  readonly body: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An order placed at the venue by hand (its web page): no client order id of Sluice's. */
export interface HandOrder {
  readonly symbol: string;
  readonly side: Side;
  readonly qty: number;
  readonly type: OrderType;
  readonly limitPrice?: number;
  readonly stopPrice?: number;
  readonly timeInForce?: TimeInForce;
}

export interface AlpacaTradingLoopback {
  /** http://127.0.0.1:<port>: the Trading API base URL. */
  readonly baseUrl: string;
  /** ws://127.0.0.1:<port>/stream: the trade_updates stream. */
  readonly streamUrl: string;
  /** Every REST request so far, in order. */
  readonly requests: readonly TradingRequest[];
  /** The venue's time: the close of the bar the playhead is on (epoch ms). */
  now(): number;
  /** The last close of `symbol` at the playhead. */
  lastPrice(symbol: string): number;
  /** Moves the playhead `bars` minutes on, matching working orders against each new bar. */
  step(bars?: number): void;
  /** Every order (legs nested in their parent) as GET /v2/orders?status=all&nested=true writes it. */
  orders(): Json[];
  /** Signed position quantity of `symbol` (0 when flat). */
  positionQty(symbol: string): number;
  cash(): number;
  fillActivities(): readonly FillActivity[];
  /** trade_updates messages sent, counting each copy to each connection. */
  tradeUpdatesSent(): number;
  streamConnections(): number;
  // Faults.
  /** The next order is refused 403 "insufficient buying power", whatever the account holds. */
  rejectNextOrder(): void;
  /** The next `count` requests answer 429; Retry-After when given, X-RateLimit-Reset always. */
  rateLimitNext(count: number, headers?: { retryAfterS?: number; resetAtS?: number }): void;
  /** The next order is placed (and streamed) but its answer is held for `ms` (a lost acknowledgement). */
  holdNextOrderAnswer(ms: number): void;
  /** The next fill event goes out twice on the stream. */
  duplicateNextFill(): void;
  /** Cuts every stream connection without a close handshake. */
  dropStream(): void;
  /** Refuses (503) stream connections while on. */
  refuseStream(refuse: boolean): void;
  /** The next cancel is accepted (204) but the order fills at the last price before it takes effect. */
  raceNextCancelWithFill(): void;
  placeByHand(order: HandOrder): Json;
  /** Each match fills at most `qty` (undefined: no cap): partial fills. */
  capFillPerMatch(qty: number | undefined): void;
  /** The next REST request is answered with this, whatever it asked. */
  answerNextWith(answer: RawAnswer): void;
  /** Sends this frame as is to every listening stream connection. */
  sendOnStream(frame: string | Buffer): void;
  rejectCredentials(reject: boolean): void;
  close(): Promise<void>;
}

const MINUTE_MS = 60_000;
const WORKING = new Set(['accepted', 'new', 'partially_filled', 'pending_cancel']);
const ORDER_TYPES = new Set<string>(['market', 'limit', 'stop', 'stop_limit']);
const TIMES_IN_FORCE = new Set<string>(['day', 'gtc', 'ioc', 'fok']);

/** A stable UUID-shaped id from its parts (Alpaca's ids are UUIDs). */
function uuid(...parts: (string | number)[]): string {
  const hex = createHash('sha256').update(parts.join(':')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** RFC-3339 with microseconds, as Alpaca writes its times. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/** A price or quantity as Alpaca's decimal strings. */
function decimal(value: number): string {
  return String(Number(value.toFixed(6)));
}

class OrderRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startAlpacaTradingLoopback(
  options: AlpacaTradingLoopbackOptions,
): Promise<AlpacaTradingLoopback> {
  const barsBySymbol = new Map(
    Object.entries(options.bars).map(([symbol, bars]) => [
      symbol,
      bars.map((bar) => ({ ...bar, start: Date.parse(bar.t) })),
    ]),
  );
  const times = [...new Set([...barsBySymbol.values()].flatMap((bars) => bars.map((bar) => bar.start)))].sort(
    (a, b) => a - b,
  );
  if (times.length === 0) throw new Error('alpaca trading loopback: no bars');
  let playhead = 0;
  const orders: Order[] = [];
  const byId = new Map<string, Order>();
  const byClientId = new Map<string, Order>();
  const positions = new Map<string, Position>();
  const activities: FillActivity[] = [];
  const requests: TradingRequest[] = [];
  const connections = new Set<{ socket: WebSocket; authenticated: boolean; listening: boolean }>();
  const heldAnswers = new Set<ReturnType<typeof setTimeout>>();
  let cash = options.cash ?? 100_000;
  let sequence = 0;
  let orderCount = 0;
  let updatesSent = 0;
  // Fault switches.
  let rejectOrders = 0;
  let limited = 0;
  let limitHeaders: { retryAfterS?: number; resetAtS?: number } = {};
  let holdAnswerMs: number | undefined;
  let duplicateFills = 0;
  let refusingStream = false;
  let raceCancels = 0;
  let fillCap: number | undefined;
  const rawAnswers: RawAnswer[] = [];
  let rejecting = false;

  const now = () => (times[playhead] as number) + MINUTE_MS;

  function barAt(symbol: string, start: number) {
    return barsBySymbol.get(symbol)?.find((bar) => bar.start === start);
  }

  function lastPrice(symbol: string): number {
    const bars = barsBySymbol.get(symbol);
    if (!bars) throw new Error(`no bars for ${symbol}`);
    let last: number | undefined;
    for (const bar of bars) {
      if (bar.start > (times[playhead] as number)) break;
      last = bar.c;
    }
    return last ?? (bars[0] as { o: number }).o;
  }

  // ---- The trade_updates stream ----

  function broadcast(message: unknown, copies = 1): void {
    const frame = Buffer.from(JSON.stringify(message));
    for (const connection of connections) {
      if (!connection.listening || connection.socket.readyState !== connection.socket.OPEN) continue;
      for (let copy = 0; copy < copies; copy++) {
        connection.socket.send(frame, { binary: true });
        updatesSent++;
      }
    }
  }

  function emit(event: string, order: Order, execution?: { id: string; price: number; qty: number }): void {
    const position = positions.get(order.symbol)?.qty ?? 0;
    const data: Json = {
      event,
      execution_id: execution?.id ?? uuid('event', ++sequence),
      timestamp: rfc3339(now()),
      order: orderJson(order, true),
    };
    if (execution) {
      data.price = decimal(execution.price);
      data.qty = decimal(execution.qty);
      data.position_qty = decimal(position);
    }
    const copies = execution && duplicateFills > 0 ? 2 : 1;
    if (copies === 2) duplicateFills--;
    broadcast({ stream: 'trade_updates', data }, copies);
  }

  // ---- Orders ----

  function orderJson(order: Order, nested: boolean): Json {
    const at = (ms: number | undefined) => (ms === undefined ? null : rfc3339(ms));
    return {
      id: order.id,
      client_order_id: order.clientOrderId,
      created_at: rfc3339(order.createdAt),
      updated_at: rfc3339(order.updatedAt),
      submitted_at: rfc3339(order.createdAt),
      filled_at: at(order.filledAt),
      expired_at: null,
      canceled_at: at(order.canceledAt),
      failed_at: null,
      replaced_at: null,
      replaced_by: null,
      replaces: null,
      asset_id: uuid('asset', order.symbol),
      symbol: order.symbol,
      asset_class: 'us_equity',
      notional: null,
      qty: decimal(order.qty),
      filled_qty: decimal(order.filledQty),
      filled_avg_price: order.filledQty > 0 ? decimal(order.filledValue / order.filledQty) : null,
      order_class: order.orderClass,
      order_type: order.type,
      type: order.type,
      side: order.side,
      position_intent: order.side === 'buy' ? 'buy_to_open' : 'sell_to_close',
      time_in_force: order.timeInForce,
      limit_price: order.limitPrice === undefined ? null : decimal(order.limitPrice),
      stop_price: order.stopPrice === undefined ? null : decimal(order.stopPrice),
      status: order.status,
      extended_hours: false,
      legs: nested && order.legs.length > 0 ? order.legs.map((leg) => orderJson(leg, false)) : null,
      trail_percent: null,
      trail_price: null,
      hwm: null,
    };
  }

  function newOrder(
    spec: Omit<Order, 'id' | 'createdAt' | 'filledQty' | 'filledValue' | 'status' | 'updatedAt'> & {
      status?: string;
    },
  ): Order {
    const order: Order = {
      ...spec,
      id: uuid('order', ++orderCount),
      createdAt: now(),
      updatedAt: now(),
      filledQty: 0,
      filledValue: 0,
      status: spec.status ?? 'accepted',
    };
    byId.set(order.id, order);
    byClientId.set(order.clientOrderId, order);
    return order;
  }

  function referencePrice(order: Pick<Order, 'limitPrice' | 'stopPrice' | 'symbol'>): number {
    return order.limitPrice ?? order.stopPrice ?? lastPrice(order.symbol);
  }

  function reservedForBuys(): number {
    let reserved = 0;
    for (const order of byId.values())
      if (order.side === 'buy' && WORKING.has(order.status))
        reserved += (order.qty - order.filledQty) * referencePrice(order);
    return reserved;
  }

  function isWorking(order: Order): boolean {
    return WORKING.has(order.status);
  }

  /**
   * The price `order` fills at now: against the last close when `bar` is undefined (on arrival),
   * else against the bar. Undefined when it does not fill. Triggers a stop as a side effect.
   */
  function matchPrice(order: Order, bar: { o: number; h: number; l: number; c: number } | undefined) {
    const last = lastPrice(order.symbol);
    const open = bar?.o ?? last;
    const high = bar?.h ?? last;
    const low = bar?.l ?? last;
    const buy = order.side === 'buy';
    let start = open;
    if (order.type === 'stop' || order.type === 'stop_limit') {
      const stop = order.stopPrice as number;
      if (!order.triggered) {
        if (buy ? high < stop : low > stop) return undefined;
        order.triggered = true;
        start = buy ? Math.max(open, stop) : Math.min(open, stop);
      }
      if (order.type === 'stop') return start;
    }
    if (order.type === 'market') return open;
    const limit = order.limitPrice as number;
    if (buy) return low <= limit ? Math.min(start, limit) : undefined;
    return high >= limit ? Math.max(start, limit) : undefined;
  }

  function fill(order: Order, qty: number, price: number): void {
    const at = now();
    order.filledQty += qty;
    order.filledValue += qty * price;
    order.status = order.filledQty >= order.qty ? 'filled' : 'partially_filled';
    order.updatedAt = at;
    if (order.status === 'filled') order.filledAt = at;
    const signed = order.side === 'buy' ? qty : -qty;
    cash -= signed * price;
    const position = positions.get(order.symbol) ?? { qty: 0, avgEntryPrice: 0 };
    const after = position.qty + signed;
    if (Math.sign(after) !== Math.sign(position.qty)) position.avgEntryPrice = after === 0 ? 0 : price;
    else if (Math.abs(after) > Math.abs(position.qty))
      position.avgEntryPrice = (position.avgEntryPrice * position.qty + price * signed) / after;
    position.qty = after;
    positions.set(order.symbol, position);
    const executionId = uuid('execution', ++sequence);
    const compact = new Date(at).toISOString().replace(/[-:TZ.]/g, '');
    activities.push({
      id: `${compact}::${executionId}`,
      activity_type: 'FILL',
      transaction_time: rfc3339(at),
      type: order.status === 'filled' ? 'fill' : 'partial_fill',
      price: decimal(price),
      qty: decimal(qty),
      side: order.side,
      symbol: order.symbol,
      leaves_qty: decimal(order.qty - order.filledQty),
      order_id: order.id,
      cum_qty: decimal(order.filledQty),
      order_status: order.status,
    });
    emit(order.status === 'filled' ? 'fill' : 'partial_fill', order, { id: executionId, price, qty });
    if (order.status === 'filled' && order.legs.length > 0) {
      for (const leg of order.legs) {
        leg.status = 'new';
        leg.updatedAt = at;
        emit('new', leg);
      }
    }
    // One-cancels-other: a leg's first execution cancels its sibling.
    for (const sibling of order.parent?.legs ?? [])
      if (sibling !== order && (isWorking(sibling) || sibling.status === 'held')) cancelNow(sibling);
  }

  /** Matches `order` once: against the bar, or on arrival against the last close. */
  function match(order: Order, bar?: { o: number; h: number; l: number; c: number }): void {
    if (!isWorking(order)) return;
    const price = matchPrice(order, bar);
    if (price === undefined) return;
    const remaining = order.qty - order.filledQty;
    fill(order, Math.min(remaining, fillCap ?? remaining), price);
  }

  function cancelNow(order: Order): void {
    order.status = 'canceled';
    order.canceledAt = now();
    order.updatedAt = now();
    emit('canceled', order);
    for (const leg of order.legs) if (isWorking(leg) || leg.status === 'held') cancelNow(leg);
  }

  function place(order: Order): Json {
    orders.push(order);
    const answer = orderJson(order, true);
    order.status = 'new';
    emit('new', order);
    const remaining = order.qty;
    if (order.timeInForce === 'fok') {
      const price = matchPrice(order, undefined);
      if (price === undefined || (fillCap ?? remaining) < remaining) cancelNow(order);
      else fill(order, remaining, price);
    } else {
      match(order);
      if (order.timeInForce === 'ioc' && isWorking(order)) cancelNow(order);
    }
    return answer;
  }

  function priceField(body: Json, field: string, required: boolean): number | undefined {
    const value = body[field];
    if (value === undefined || value === null) {
      if (required) throw new OrderRefused(422, 40010001, `${field} is required`);
      return undefined;
    }
    const price = Number(value);
    if (!Number.isFinite(price) || price <= 0)
      throw new OrderRefused(422, 40010001, `invalid ${field} ${String(value)}`);
    if (price >= 1 && Math.abs(Math.round(price * 100) - price * 100) > 1e-6)
      throw new OrderRefused(
        422,
        42210000,
        `invalid ${field} ${String(value)}. sub-penny increment does not fulfill minimum pricing criteria`,
      );
    return price;
  }

  /** POST /v2/orders: validated as Alpaca does, then placed. */
  function submit(body: Json): Json {
    const symbol = String(body.symbol ?? '');
    if (!barsBySymbol.has(symbol)) throw new OrderRefused(422, 40010001, `asset "${symbol}" not found`);
    const side = body.side;
    if (side !== 'buy' && side !== 'sell') throw new OrderRefused(422, 40010001, 'side must be buy or sell');
    const type = String(body.type);
    if (!ORDER_TYPES.has(type)) throw new OrderRefused(422, 40010001, `invalid order type: ${type}`);
    const timeInForce = String(body.time_in_force);
    if (!TIMES_IN_FORCE.has(timeInForce))
      throw new OrderRefused(422, 40010001, `invalid time_in_force: ${timeInForce}`);
    const qty = Number(body.qty);
    if (!Number.isFinite(qty) || qty <= 0) throw new OrderRefused(422, 40010001, 'qty must be > 0');
    if (!Number.isInteger(qty) && (timeInForce !== 'day' || (type !== 'market' && type !== 'limit')))
      throw new OrderRefused(422, 40010001, 'fractional orders must be market or limit orders with day');
    const limitPrice = priceField(body, 'limit_price', type === 'limit' || type === 'stop_limit');
    const stopPrice = priceField(body, 'stop_price', type === 'stop' || type === 'stop_limit');
    const clientOrderId =
      body.client_order_id === undefined ? uuid('client', ++sequence) : String(body.client_order_id);
    if (clientOrderId.length > 128)
      throw new OrderRefused(422, 40010001, 'client_order_id must be no more than 128 characters');
    if (byClientId.has(clientOrderId))
      throw new OrderRefused(422, 40010001, 'client_order_id must be unique');
    const orderClass =
      body.order_class === undefined || body.order_class === 'simple' ? 'simple' : body.order_class;
    if (orderClass !== 'simple' && orderClass !== 'bracket')
      throw new OrderRefused(422, 40010001, `order_class ${String(orderClass)} is not supported`);
    const exits: { takeProfit: number; stopLoss: number; stopLimit: number | undefined } | undefined =
      orderClass === 'bracket'
        ? bracketExits(body, side, limitPrice ?? lastPrice(symbol), timeInForce)
        : undefined;
    if (side === 'buy') {
      const notional = qty * referencePrice({ limitPrice, stopPrice, symbol });
      if (rejectOrders > 0 || notional > cash - reservedForBuys()) {
        rejectOrders = Math.max(0, rejectOrders - 1);
        throw new OrderRefused(403, 40310000, 'insufficient buying power');
      }
    } else if (rejectOrders > 0) {
      rejectOrders--;
      throw new OrderRefused(403, 40310000, 'insufficient buying power');
    }
    const common = { symbol, timeInForce: timeInForce as TimeInForce, orderClass, triggered: false } as const;
    const legs: Order[] = [];
    const order = newOrder({
      ...common,
      clientOrderId,
      side,
      type: type as OrderType,
      qty,
      limitPrice,
      stopPrice,
      filledAt: undefined,
      canceledAt: undefined,
      legs,
      parent: undefined,
    });
    if (exits) {
      const exitSide: Side = side === 'buy' ? 'sell' : 'buy';
      const leg = (role: string, type: OrderType, limit: number | undefined, stop: number | undefined) =>
        newOrder({
          ...common,
          clientOrderId: uuid('leg', order.id, role),
          side: exitSide,
          type,
          qty,
          limitPrice: limit,
          stopPrice: stop,
          filledAt: undefined,
          canceledAt: undefined,
          legs: [],
          parent: order,
          status: 'held',
        });
      // The stop-loss first: when one bar reaches both, the conservative reading takes the loss.
      legs.push(
        leg(
          'stop_loss',
          exits.stopLimit === undefined ? 'stop' : 'stop_limit',
          exits.stopLimit,
          exits.stopLoss,
        ),
        leg('take_profit', 'limit', exits.takeProfit, undefined),
      );
    }
    return place(order);
  }

  function bracketExits(body: Json, side: Side, basePrice: number, timeInForce: string) {
    if (timeInForce !== 'day' && timeInForce !== 'gtc')
      throw new OrderRefused(422, 40010001, 'bracket orders must be day or gtc orders');
    const takeProfit = priceField((body.take_profit ?? {}) as Json, 'limit_price', true) as number;
    const stopLossBody = (body.stop_loss ?? {}) as Json;
    const stopLoss = priceField(stopLossBody, 'stop_price', true) as number;
    const stopLimit = priceField(stopLossBody, 'limit_price', false);
    const buy = side === 'buy';
    if (buy ? takeProfit < basePrice + 0.01 : takeProfit > basePrice - 0.01)
      throw new OrderRefused(
        422,
        42210000,
        `take_profit.limit_price must be ${buy ? '>=' : '<='} base_price ${buy ? '+' : '-'} 0.01`,
      );
    if (buy ? stopLoss > basePrice - 0.01 : stopLoss < basePrice + 0.01)
      throw new OrderRefused(
        422,
        42210000,
        `stop_loss.stop_price must be ${buy ? '<=' : '>='} base_price ${buy ? '-' : '+'} 0.01`,
      );
    return { takeProfit, stopLoss, stopLimit };
  }

  function step(count = 1): void {
    for (let n = 0; n < count; n++) {
      if (playhead + 1 >= times.length) throw new Error('alpaca trading loopback: the bars are played out');
      playhead++;
      const start = times[playhead] as number;
      // What works when the bar opens: legs an entry fill releases during it wait for the next bar.
      for (const order of [...byId.values()].filter(isWorking)) {
        const bar = barAt(order.symbol, start);
        if (bar) match(order, bar);
      }
    }
  }

  function cancel(order: Order): number {
    if (!isWorking(order) && order.status !== 'held') return 422;
    order.status = 'pending_cancel';
    order.updatedAt = now();
    emit('pending_cancel', order);
    if (raceCancels > 0) {
      // The fill reaches the order first; the cancel then finds nothing left to cancel.
      raceCancels--;
      const remaining = order.qty - order.filledQty;
      order.status = order.filledQty > 0 ? 'partially_filled' : 'new';
      fill(order, remaining, lastPrice(order.symbol));
      emit('order_cancel_rejected', order);
      return 204;
    }
    cancelNow(order);
    return 204;
  }

  // ---- REST ----

  function json(
    response: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (response.destroyed) return;
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  }

  function listOrders(query: Record<string, string>): Json[] {
    const status = query.status ?? 'open';
    const nested = query.nested === 'true';
    const limit = Math.min(Number(query.limit ?? 50), 500);
    const after = query.after ? Date.parse(query.after) : Number.NEGATIVE_INFINITY;
    const until = query.until ? Date.parse(query.until) : Number.POSITIVE_INFINITY;
    const symbols = query.symbols ? new Set(query.symbols.split(',')) : undefined;
    const open = (order: Order) => isWorking(order) || order.status === 'held';
    const candidates = nested ? orders : [...byId.values()];
    const selected = candidates.filter((order) => {
      const isOpen = open(order) || (nested && order.legs.some(open));
      if (status === 'open' && !isOpen) return false;
      if (status === 'closed' && isOpen) return false;
      if (symbols && !symbols.has(order.symbol)) return false;
      return order.createdAt > after && order.createdAt < until;
    });
    if (query.direction !== 'asc') selected.reverse();
    return selected.slice(0, limit).map((order) => orderJson(order, nested));
  }

  function listActivities(query: Record<string, string>): FillActivity[] {
    const after = query.after ? Date.parse(query.after) : Number.NEGATIVE_INFINITY;
    const until = query.until ? Date.parse(query.until) : Number.POSITIVE_INFINITY;
    const pageSize = Math.min(Number(query.page_size ?? 100), 100);
    const inSpan = activities.filter((activity) => {
      const at = Date.parse(activity.transaction_time);
      return at > after && at < until;
    });
    if (query.direction !== 'asc') inSpan.reverse();
    const from = query.page_token ? inSpan.findIndex((activity) => activity.id === query.page_token) + 1 : 0;
    return inSpan.slice(from, from + pageSize);
  }

  async function readBody(request: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://loopback');
    const method = request.method ?? 'GET';
    const path = decodeURIComponent(url.pathname);
    const query = Object.fromEntries(url.searchParams);
    const body = method === 'POST' ? await readBody(request) : '';
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      requests.push({ method, path, query, status });
      json(response, status, payload, headers);
    };
    const raw = rawAnswers.shift();
    if (raw) {
      requests.push({ method, path, query, status: raw.status });
      response.writeHead(raw.status, { 'content-type': 'application/json', ...raw.headers });
      response.end(raw.body);
      return;
    }
    if (limited > 0) {
      limited--;
      const resetAt = limitHeaders.resetAtS ?? Math.ceil(Date.now() / 1000) + 1;
      answer(
        429,
        { code: 42910000, message: 'rate limit exceeded' },
        {
          'X-RateLimit-Limit': '200',
          'X-RateLimit-Remaining': '0',
          'X-RateLimit-Reset': String(resetAt),
          ...(limitHeaders.retryAfterS === undefined
            ? {}
            : { 'Retry-After': String(limitHeaders.retryAfterS) }),
        },
      );
      return;
    }
    if (
      rejecting ||
      request.headers['apca-api-key-id'] !== options.keyId ||
      request.headers['apca-api-secret-key'] !== options.secretKey
    ) {
      answer(401, { code: 40110000, message: 'request is not authorized' });
      return;
    }
    const orderPath = /^\/v2\/orders\/([^/]+)$/.exec(path);
    const assetPath = /^\/v2\/assets\/(.+)$/.exec(path);
    if (method === 'GET' && path === '/v2/account') {
      const buyingPower = cash - reservedForBuys();
      answer(200, {
        id: uuid('account', options.keyId),
        account_number: 'PA3LOOPBACK',
        status: 'ACTIVE',
        currency: 'USD',
        cash: decimal(cash),
        buying_power: decimal(buyingPower),
        regt_buying_power: decimal(buyingPower),
        non_marginable_buying_power: decimal(buyingPower),
        multiplier: '1',
        trading_blocked: false,
        account_blocked: false,
        shorting_enabled: true,
        created_at: rfc3339(times[0] as number),
      });
    } else if (method === 'POST' && path === '/v2/orders') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        answer(400, { code: 40010000, message: 'request body format is invalid' });
        return;
      }
      let placed: Json;
      try {
        placed = submit(parsed as Json);
      } catch (error) {
        if (!(error instanceof OrderRefused)) throw error;
        answer(error.status, { code: error.code, message: error.message });
        return;
      }
      if (holdAnswerMs === undefined) {
        answer(200, placed);
        return;
      }
      const timer = setTimeout(() => {
        heldAnswers.delete(timer);
        answer(200, placed);
      }, holdAnswerMs);
      heldAnswers.add(timer);
      holdAnswerMs = undefined;
    } else if (method === 'GET' && path === '/v2/orders') {
      answer(200, listOrders(query));
    } else if (method === 'GET' && path === '/v2/orders:by_client_order_id') {
      const order = byClientId.get(query.client_order_id ?? '');
      // Alpaca's by-client-id answer is not nested: a bracket's legs are asked for by order id.
      if (order) answer(200, orderJson(order, false));
      else answer(404, { code: 40410000, message: 'order not found' });
    } else if (orderPath && (method === 'GET' || method === 'DELETE')) {
      const order = byId.get(orderPath[1] as string);
      if (!order) answer(404, { code: 40410000, message: 'order not found' });
      else if (method === 'GET') answer(200, orderJson(order, query.nested === 'true'));
      else {
        const status = cancel(order);
        answer(status, status === 204 ? undefined : { code: 42210000, message: 'order is not cancelable' });
      }
    } else if (method === 'GET' && path === '/v2/positions') {
      answer(
        200,
        [...positions.entries()]
          .filter(([, position]) => position.qty !== 0)
          .map(([symbol, position]) => {
            const price = lastPrice(symbol);
            return {
              asset_id: uuid('asset', symbol),
              symbol,
              exchange: 'ARCA',
              asset_class: 'us_equity',
              asset_marginable: true,
              qty: decimal(position.qty),
              qty_available: decimal(position.qty),
              avg_entry_price: decimal(position.avgEntryPrice),
              side: position.qty < 0 ? 'short' : 'long',
              market_value: decimal(position.qty * price),
              cost_basis: decimal(position.qty * position.avgEntryPrice),
              unrealized_pl: decimal(position.qty * (price - position.avgEntryPrice)),
              current_price: decimal(price),
            };
          }),
      );
    } else if (method === 'GET' && assetPath) {
      const symbol = assetPath[1] as string;
      const asset =
        options.assets?.[symbol] ??
        (options.bars[symbol]
          ? { class: 'us_equity', exchange: 'ARCA', status: 'active', tradable: true, fractionable: true }
          : undefined);
      if (asset) answer(200, { id: uuid('asset', symbol), symbol, ...asset });
      else answer(404, { code: 40410000, message: 'asset not found' });
    } else if (method === 'GET' && path === '/v2/account/activities/FILL') {
      answer(200, listActivities(query));
    } else {
      answer(404, { code: 40410000, message: 'endpoint not found' });
    }
  }

  // ---- The stream ----

  const server = createServer((request, response) => {
    serve(request, response).catch((error: unknown) => {
      json(response, 500, { code: 50010000, message: `internal error: ${String(error)}` });
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    const path = new URL(request.url ?? '/', 'http://loopback').pathname;
    if (path !== '/stream' || refusingStream) {
      socket.end(`HTTP/1.1 ${path === '/stream' ? '503 Service Unavailable' : '404 Not Found'}\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection = { socket: ws, authenticated: false, listening: false };
      connections.add(connection);
      const send = (message: unknown) => ws.send(Buffer.from(JSON.stringify(message)), { binary: true });
      ws.on('message', (data: Buffer) => {
        let message: Json;
        try {
          message = JSON.parse(data.toString('utf8')) as Json;
        } catch {
          send({ stream: 'authorization', data: { status: 'unauthorized', action: 'authenticate' } });
          return;
        }
        const payload = (message.data ?? {}) as Json;
        if (message.action === 'authenticate' || message.action === 'auth') {
          const key = payload.key_id ?? message.key;
          const secret = payload.secret_key ?? message.secret;
          connection.authenticated = !rejecting && key === options.keyId && secret === options.secretKey;
          send({
            stream: 'authorization',
            data: {
              status: connection.authenticated ? 'authorized' : 'unauthorized',
              action: 'authenticate',
            },
          });
          if (!connection.authenticated) ws.close();
        } else if (message.action === 'listen' && connection.authenticated) {
          const streams = Array.isArray(payload.streams) ? payload.streams.map(String) : [];
          connection.listening = streams.includes('trade_updates');
          send({ stream: 'listening', data: { streams: connection.listening ? ['trade_updates'] : [] } });
        } else {
          send({ stream: 'authorization', data: { status: 'unauthorized', action: 'listen' } });
        }
      });
      ws.on('close', () => connections.delete(connection));
      ws.on('error', () => connections.delete(connection));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    streamUrl: `ws://127.0.0.1:${port}/stream`,
    requests,
    now,
    lastPrice,
    step,
    orders: () => orders.map((order) => orderJson(order, true)),
    positionQty: (symbol) => positions.get(symbol)?.qty ?? 0,
    cash: () => cash,
    fillActivities: () => activities,
    tradeUpdatesSent: () => updatesSent,
    streamConnections: () => [...connections].filter((connection) => connection.listening).length,
    rejectNextOrder() {
      rejectOrders++;
    },
    rateLimitNext(count, headers = {}) {
      limited = count;
      limitHeaders = headers;
    },
    holdNextOrderAnswer(ms) {
      holdAnswerMs = ms;
    },
    duplicateNextFill() {
      duplicateFills++;
    },
    dropStream() {
      for (const connection of connections) connection.socket.terminate();
    },
    refuseStream(refuse) {
      refusingStream = refuse;
    },
    raceNextCancelWithFill() {
      raceCancels++;
    },
    placeByHand(hand) {
      const order = newOrder({
        clientOrderId: uuid('by-hand', ++sequence),
        symbol: hand.symbol,
        side: hand.side,
        type: hand.type,
        timeInForce: hand.timeInForce ?? 'day',
        orderClass: 'simple',
        qty: hand.qty,
        limitPrice: hand.limitPrice,
        stopPrice: hand.stopPrice,
        filledAt: undefined,
        canceledAt: undefined,
        triggered: false,
        legs: [],
        parent: undefined,
      });
      return place(order);
    },
    capFillPerMatch(qty) {
      fillCap = qty;
    },
    answerNextWith(answer) {
      rawAnswers.push(answer);
    },
    sendOnStream(frame) {
      for (const connection of connections)
        if (connection.listening) connection.socket.send(frame, { binary: typeof frame !== 'string' });
    },
    rejectCredentials(reject) {
      rejecting = reject;
    },
    async close() {
      for (const timer of heldAnswers) clearTimeout(timer);
      for (const connection of connections) connection.socket.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
