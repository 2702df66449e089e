// Alpaca's Trading API v2 (paper and live accounts) as a LiveBroker, through Alpaca's official SDK,
// @alpacahq/alpaca-trade-api v4:
// - REST: the SDK's generated trading APIs (OrdersApi, PositionsApi, AccountActivitiesApi,
//   AccountsApi) pointed at `baseUrl` by their Configuration's `basePath`. Bodies are read from the
//   SDK's raw responses (capped in size) and decoded here: the SDK's models turn times into Dates
//   and keep unknown statuses as they come, and a hostile body must become a VenueFault, not a crash.
//   The SDK's retry and rate limiter are off: the actor decides every retry (never the adapter).
// - The `trade_updates` stream: the SDK's TradingStream (JSON codec, {action:'authenticate'} then
//   {action:'listen'}), pointed at `streamUrl` by its `url` option, with its own reconnect and
//   exponential backoff. TradeUpdateStream overrides its documented subclass hook `handleMessage` so
//   trade_updates frames are decoded here, from Alpaca's JSON, the same way as REST answers.
//
// Instrument rules: venueRules reads each symbol's asset (the SDK's AssetsApi); see there.
//
// Ids and times: the venue's order id, client order id and execution id are kept as Alpaca sent
// them. A fill's venueFillId is the execution id: on the stream it is `execution_id`; a FILL account
// activity's id is `<transaction time>::<execution id>` (Alpaca documents the `::` form), so the same
// execution read back by fillsSince keeps the id the stream gave it. Every time is the venue's
// (updated_at, transaction_time, the event's timestamp), never the wall clock.
import { ApiError, NotFoundError, RateLimitError, streaming, trading } from '@alpacahq/alpaca-trade-api';
import { type Clock, WallClock } from '../../../core/clock.ts';
import type { Logger } from '../../../core/logger.ts';
import type { OrderIntent, OrderStatus, OrderType, Side } from '../../../schemas/messages.ts';
import type { InstrumentSpec, VenueRules } from '../../risk/venue-rules.ts';
import {
  type LiveBroker,
  type RejectReason,
  VenueFault,
  type VenueFaultKind,
  type VenueFill,
  type VenueOrder,
  type VenuePosition,
  type VenueUpdate,
} from '../broker-adapter.ts';

export const ALPACA_VENUE = 'alpaca';
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Alpaca's largest page: 500 orders, 100 activities. */
const ORDERS_PAGE = 500;
const ACTIVITIES_PAGE = 100;

export interface AlpacaBrokerOptions {
  /** APCA-API-KEY-ID and APCA-API-SECRET-KEY of the account; never logged. */
  readonly keyId: string;
  readonly secretKey: string;
  /** A paper account (paper-api.alpaca.markets) or a live one (api.alpaca.markets). */
  readonly paper: boolean;
  /** Trading REST host; default Alpaca's paper or live host. */
  readonly baseUrl?: string;
  /** The trade_updates stream (a ws(s) URL ending in /stream); default Alpaca's paper or live one. */
  readonly streamUrl?: string;
  /** No answer within this long: the request fails ('unknown_outcome' for submit and cancel). Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Only for the wait an X-RateLimit-Reset header asks for (an epoch second); default the wall clock. */
  readonly clock?: Clock;
  /** Skipped updates and stream trouble are logged here, with their reason. */
  readonly logger?: Logger;
  /** A REST answer longer than this is refused as hostile. Default 8 MiB. */
  readonly maxResponseBytes?: number;
  /** Stream reconnect backoff: doubling from initialDelayMs up to maxDelayMs (±20 % jitter). */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /** How long connect() waits for the stream's authorization and listen answers. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Keepalive ping interval of the stream socket; 0 turns it off. Default 10 s. */
  readonly pingIntervalMs?: number;
}

export function createAlpacaBroker(options: AlpacaBrokerOptions): AlpacaBroker {
  return new AlpacaBroker(options);
}

/** An answer Alpaca would not send: refused with this reason. */
class MalformedAnswer extends Error {}

type Json = { readonly [key: string]: unknown };
type ConnectionState = 'connected' | 'disconnected';

/**
 * The SDK's trading stream, handing trade_updates frames over before its mapper sees them. Control
 * frames (authorization, listening, errors) go on to the SDK, which drives auth and resubscription.
 */
class TradeUpdateStream extends streaming.TradingStream {
  constructor(
    options: streaming.TradingStreamOptions,
    private readonly forward: (data: unknown) => void,
  ) {
    super(options);
  }

  protected override handleMessage(message: unknown): void {
    if (isObject(message) && message.stream === 'trade_updates') this.forward(message.data);
    else super.handleMessage(message);
  }
}

export class AlpacaBroker implements LiveBroker {
  readonly venue = ALPACA_VENUE;
  readonly accountMode: 'paper' | 'live';
  // Credentials live in these and in the SDK clients they hold: #private, so logging or inspecting
  // the broker shows none of them.
  readonly #options: AlpacaBrokerOptions;
  readonly #orders: trading.OrdersApi;
  readonly #positions: trading.PositionsApi;
  readonly #activities: trading.AccountActivitiesApi;
  readonly #accounts: trading.AccountsApi;
  readonly #assets: trading.AssetsApi;
  readonly #clock: Clock;
  #stream: TradeUpdateStream | undefined;
  #state: ConnectionState = 'disconnected';
  #closing = false;
  readonly #updateListeners = new Set<(update: VenueUpdate) => void>();
  readonly #connectionListeners = new Set<(state: ConnectionState) => void>();
  /** Venue order id -> client order id, from every order seen: FILL activities name only the order. */
  readonly #clientIds = new Map<string, string | undefined>();
  #skipped = 0;

  constructor(options: AlpacaBrokerOptions) {
    this.#options = options;
    this.accountMode = options.paper ? 'paper' : 'live';
    this.#clock = options.clock ?? new WallClock();
    const configuration = new trading.Configuration({
      keyId: options.keyId,
      secret: options.secretKey,
      paper: options.paper,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      ...(options.baseUrl ? { basePath: options.baseUrl.replace(/\/+$/, '') } : {}),
    });
    this.#orders = new trading.OrdersApi(configuration);
    this.#positions = new trading.PositionsApi(configuration);
    this.#activities = new trading.AccountActivitiesApi(configuration);
    this.#accounts = new trading.AccountsApi(configuration);
    this.#assets = new trading.AssetsApi(configuration);
  }

  /** Stream messages refused (malformed, unknown status), each logged with its reason. */
  get skippedUpdates(): number {
    return this.#skipped;
  }

  async connect(): Promise<void> {
    await this.close();
    this.#closing = false;
    // Credentials are checked over REST first: a refusal there is a typed 'unauthorised'.
    await this.request(
      'account',
      false,
      () => this.#accounts.getAccountRaw(),
      () => undefined,
    );
    const options = this.#options;
    const listening = new Promise<void>((resolve, reject) => {
      const stream = new TradeUpdateStream(
        {
          credentials: { keyId: options.keyId, secret: options.secretKey },
          paper: options.paper,
          ...(options.streamUrl ? { url: options.streamUrl } : {}),
          reconnect: true,
          maxReconnectAttempts: -1,
          initialReconnectMs: options.reconnect?.initialDelayMs ?? 500,
          maxReconnectMs: options.reconnect?.maxDelayMs ?? 30_000,
          pingIntervalMs: options.pingIntervalMs ?? 10_000,
        },
        (data) => this.onTradeUpdate(data),
      );
      this.#stream = stream;
      const timer = setTimeout(() => {
        stream.disconnect();
        reject(new VenueFault('unavailable', 'alpaca: trade_updates did not answer auth and listen in time'));
      }, options.handshakeTimeoutMs ?? 10_000);
      stream.on('subscription', (streams: unknown) => {
        if (!Array.isArray(streams) || !streams.includes('trade_updates')) return;
        clearTimeout(timer);
        this.setState('connected');
        resolve();
      });
      void stream.whenAuthenticated().then((result) => {
        if (result.status !== streaming.STREAM_AUTH_STATUS.SERVER_REJECTED) return;
        clearTimeout(timer);
        this.#options.logger?.error({ venue: this.venue }, 'alpaca: trade_updates refused the credentials');
        reject(
          new VenueFault('unauthorised', `alpaca: trade_updates refused the credentials: ${result.message}`),
        );
      });
      stream.onDisconnect(() => {
        if (!this.#closing) this.setState('disconnected');
      });
      stream.onError((message) => {
        // The SDK reports frames it cannot parse (or that are not objects) here: skipped, with why.
        if (message.startsWith('failed to')) this.skip(`trade_updates frame: ${message}`);
        else
          this.#options.logger?.warn({ venue: this.venue, reason: message }, 'alpaca: trade_updates error');
      });
      stream.subscribeTradeUpdates();
      stream.connect();
    });
    await listening;
  }

  async close(): Promise<void> {
    this.#closing = true;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.disconnect();
    this.#state = 'disconnected';
  }

  async submit(intent: OrderIntent, clientOrderId: string): Promise<VenueOrder> {
    try {
      return await this.request(
        'submit',
        true,
        () => this.#orders.postOrderRaw({ postOrderRequest: orderRequest(intent, clientOrderId) }),
        (body) => this.order(body),
      );
    } catch (error) {
      if (!(error instanceof VenueFault && error.details.rejectReason === 'duplicate_client_order_id'))
        throw error;
      // The venue has an order under this client order id: the one an earlier try placed.
      const existing = await this.orderByClientId(clientOrderId);
      if (!existing) throw error;
      if (existing.symbol !== intent.symbol || existing.side !== intent.side)
        throw new VenueFault(
          'rejected',
          `alpaca: client order id ${clientOrderId} names another order (${existing.side} ${existing.symbol})`,
          { rejectReason: 'duplicate_client_order_id', status: error.details.status },
        );
      return existing;
    }
  }

  async cancel(clientOrderId: string, venueOrderId: string | undefined): Promise<VenueOrder | undefined> {
    const orderId = venueOrderId ?? (await this.orderByClientId(clientOrderId))?.venueOrderId;
    if (orderId === undefined) return undefined;
    try {
      await this.request(
        'cancel',
        true,
        () => this.#orders.deleteOrderByOrderIDRaw({ orderId }),
        () => undefined,
      );
    } catch (error) {
      if (!(error instanceof VenueFault)) throw error;
      if (error.kind === 'not_found') return undefined;
      // 422: no longer cancelable (filled, canceled, expired): its state says which.
      if (error.details.status !== 422) throw error;
    }
    return this.orderById(orderId);
  }

  async orderByClientId(clientOrderId: string): Promise<VenueOrder | undefined> {
    const found = await this.absentWhenNotFound(() =>
      this.request(
        'order by client id',
        false,
        () => this.#orders.getOrderByClientOrderIdRaw({ clientOrderId }),
        (body) => ({ order: this.order(body), multiLeg: isObject(body) && hasLegs(body) }),
      ),
    );
    // This endpoint leaves a bracket's legs out: ask for the order nested.
    if (found?.multiLeg && found.order.legs.length === 0) return this.orderById(found.order.venueOrderId);
    return found?.order;
  }

  async openOrders(): Promise<VenueOrder[]> {
    const byId = new Map<string, VenueOrder>();
    let after: string | undefined;
    for (;;) {
      const page = await this.request(
        'open orders',
        false,
        () =>
          this.#orders.getAllOrdersRaw({
            status: 'open',
            nested: true,
            limit: ORDERS_PAGE,
            direction: 'asc',
            ...(after ? { after } : {}),
          }),
        (body) => list(body, 'orders').map(({ item, path }) => ({ order: this.order(item, path), item })),
      );
      const before = byId.size;
      for (const { order } of page) byId.set(order.venueOrderId, order);
      // Alpaca pages orders by submission time (exclusive `after`): a full page asks again from one
      // microsecond before its last order, so orders submitted in the same instant are not skipped.
      const last = page.at(-1)?.item;
      if (page.length < ORDERS_PAGE || byId.size === before || !last) break;
      after = new Date(Date.parse(String(last.submitted_at)) - 1).toISOString();
    }
    return [...byId.values()];
  }

  async positions(): Promise<VenuePosition[]> {
    return this.request(
      'positions',
      false,
      () => this.#positions.getAllOpenPositionsRaw(),
      (body) => list(body, 'positions').map(({ item, path }) => position(item, path)),
    );
  }

  /**
   * The rules of each of `symbols` Alpaca lists (GET /v2/assets/{symbol}; one it does not know is left
   * out): a crypto pair's min_trade_increment, min_order_size and price_increment; an equity in whole
   * shares, since Alpaca takes fractional quantities only on day market and limit orders (its equity
   * ticks, 0.01 from $1 and 0.0001 below, depend on the price and are not in the asset).
   */
  async venueRules(symbols: readonly string[]): Promise<VenueRules> {
    const rules: VenueRules = {};
    for (const symbol of symbols) {
      const spec = await this.absentWhenNotFound(() =>
        this.request(
          `asset ${symbol}`,
          false,
          () => this.#assets.getV2AssetsSymbolOrAssetIdRaw({ symbolOrAssetId: symbol }),
          (body) => assetRules(object(body, 'asset')),
        ),
      );
      if (spec !== undefined) rules[symbol] = spec;
    }
    return rules;
  }

  async fillsSince(since: number): Promise<VenueFill[]> {
    const fills: { fill: VenueFill; cumulative: number }[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.request(
        'fills',
        false,
        () =>
          this.#activities.getAccountActivitiesByActivityTypeRaw({
            activityType: 'FILL',
            // `after` is exclusive; times have microseconds: one millisecond earlier, then filtered.
            after: new Date(since - 1),
            direction: 'asc',
            pageSize: ACTIVITIES_PAGE,
            ...(pageToken ? { pageToken } : {}),
          }),
        (body) => list(body, 'activities'),
      );
      for (const { item, path } of page) {
        if (item.activity_type !== 'FILL') continue;
        fills.push(fillActivity(item, path));
      }
      pageToken = page.length === ACTIVITIES_PAGE ? String(page.at(-1)?.item.id) : undefined;
    } while (pageToken);
    for (const entry of fills) entry.fill.clientOrderId = await this.clientIdOf(entry.fill.venueOrderId);
    // Alpaca lists executions of one millisecond in any order (its issue #170): an order's cumulative
    // quantity puts them back in the order they happened.
    return fills
      .filter(({ fill }) => fill.ts >= since)
      .sort(
        (a, b) =>
          a.fill.ts - b.fill.ts ||
          (a.fill.venueOrderId === b.fill.venueOrderId ? a.cumulative - b.cumulative : 0),
      )
      .map(({ fill }) => fill);
  }

  onUpdate(listener: (update: VenueUpdate) => void): () => void {
    this.#updateListeners.add(listener);
    return () => this.#updateListeners.delete(listener);
  }

  onConnection(listener: (state: ConnectionState) => void): () => void {
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  private async orderById(orderId: string): Promise<VenueOrder | undefined> {
    return this.absentWhenNotFound(() =>
      this.request(
        'order',
        false,
        () => this.#orders.getOrderByOrderIDRaw({ orderId, nested: true }),
        (body) => this.order(body),
      ),
    );
  }

  private async absentWhenNotFound<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof VenueFault && error.kind === 'not_found') return undefined;
      throw error;
    }
  }

  private async clientIdOf(venueOrderId: string): Promise<string | undefined> {
    if (!this.#clientIds.has(venueOrderId)) await this.orderById(venueOrderId);
    return this.#clientIds.get(venueOrderId);
  }

  /** An order from Alpaca's JSON, remembering its client order id (and its legs'). */
  private order(json: unknown, path = 'order'): VenueOrder {
    const order = venueOrder(json, path);
    for (const known of [order, ...order.legs]) this.#clientIds.set(known.venueOrderId, known.clientOrderId);
    return order;
  }

  /**
   * One REST call: its errors become VenueFaults and its body is read (capped) and decoded. A body
   * that cannot be decoded after a write may hide a placed order: 'unknown_outcome'.
   */
  private async request<T>(
    what: string,
    writes: boolean,
    call: () => Promise<{ raw: Response }>,
    decode: (body: unknown) => T,
  ): Promise<T> {
    let text: string;
    try {
      const { raw } = await call();
      try {
        text = raw.status === 204 ? '' : await readCapped(raw, this.#options.maxResponseBytes);
      } finally {
        // The SDK stops its request timer only inside its own body readers. Ours has consumed the
        // body, so this one fails at once and only stops the timer, which would otherwise keep the
        // process alive for requestTimeoutMs after the last request.
        await raw.arrayBuffer().catch(() => undefined);
      }
    } catch (error) {
      throw await this.fault(what, writes, error);
    }
    try {
      return decode(text === '' ? undefined : JSON.parse(text));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new VenueFault(
        writes ? 'unknown_outcome' : 'unavailable',
        `alpaca ${what}: malformed answer: ${reason}`,
      );
    }
  }

  private async fault(what: string, writes: boolean, error: unknown): Promise<VenueFault> {
    if (error instanceof VenueFault) return error;
    if (error instanceof MalformedAnswer)
      return new VenueFault(writes ? 'unknown_outcome' : 'unavailable', `alpaca ${what}: ${error.message}`);
    if (error instanceof RateLimitError) {
      const retryAfterMs = retryAfter(error.response.headers, this.#clock);
      return new VenueFault('rate_limited', `alpaca ${what}: 429 ${error.message}`, {
        status: 429,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (error instanceof NotFoundError)
      return new VenueFault('not_found', `alpaca ${what}: 404 ${error.message}`, { status: 404 });
    if (error instanceof ApiError) return apiFault(what, error.status, error.message);
    const network = networkCause(error);
    // No answer, or an answer cut off: a write may have reached the venue. Refused before sending
    // (or any failed read): nothing happened.
    const kind: VenueFaultKind =
      writes && network.code !== 'ECONNREFUSED' && network.code !== 'ENOTFOUND'
        ? 'unknown_outcome'
        : 'unavailable';
    return new VenueFault(kind, `alpaca ${what}: ${network.description}`);
  }

  private onTradeUpdate(data: unknown): void {
    let update: VenueUpdate;
    try {
      update = tradeUpdate(data);
    } catch (error) {
      this.skip(`trade update: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    for (const known of [update.order, ...update.order.legs])
      this.#clientIds.set(known.venueOrderId, known.clientOrderId);
    for (const listener of this.#updateListeners) {
      try {
        listener(update);
      } catch (error) {
        this.#options.logger?.error({ venue: this.venue, err: error }, 'alpaca: update listener threw');
      }
    }
  }

  private skip(reason: string): void {
    this.#skipped++;
    this.#options.logger?.warn({ venue: this.venue, reason }, 'alpaca: stream message skipped');
  }

  private setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.logger?.info({ venue: this.venue, state }, 'alpaca: trade_updates');
    for (const listener of this.#connectionListeners) {
      try {
        listener(state);
      } catch (error) {
        this.#options.logger?.error({ venue: this.venue, err: error }, 'alpaca: connection listener threw');
      }
    }
  }
}

/** POST /v2/orders for an intent: Sluice's order types are Alpaca's, by the same names. */
function orderRequest(intent: OrderIntent, clientOrderId: string): trading.PostOrderRequest {
  const { bracket } = intent;
  return {
    symbol: intent.symbol,
    side: intent.side,
    qty: decimal(intent.quantity),
    type: intent.order_type,
    timeInForce: intent.time_in_force,
    clientOrderId,
    ...(intent.limit_price === undefined ? {} : { limitPrice: decimal(intent.limit_price) }),
    ...(intent.stop_price === undefined ? {} : { stopPrice: decimal(intent.stop_price) }),
    ...(bracket
      ? {
          orderClass: 'bracket',
          takeProfit: { limitPrice: decimal(bracket.take_profit.limit_price) },
          stopLoss: {
            stopPrice: decimal(bracket.stop_loss.stop_price),
            ...(bracket.stop_loss.limit_price === undefined
              ? {}
              : { limitPrice: decimal(bracket.stop_loss.limit_price) }),
          },
        }
      : {}),
  };
}

/** A number as Alpaca's decimal strings: never in exponent notation. */
function decimal(value: number): string {
  if (Number.isInteger(value)) return value.toFixed(0);
  return value.toFixed(10).replace(/0+$/, '');
}

/** Alpaca's words for a refused request, in Sluice's. Checked in this order: the first match wins. */
const REJECT_REASONS: readonly [RegExp, RejectReason][] = [
  [/client_order_id must be unique|duplicate client/i, 'duplicate_client_order_id'],
  [/buying power/i, 'insufficient_buying_power'],
  [/market (is )?closed|market hours|outside.*trading hours/i, 'market_closed'],
  [/\bqty\b|quantity|shares|lot size|fractional/i, 'invalid_quantity'],
  [/price|penny|tick/i, 'invalid_price'],
  [/order_class|bracket|order type|\btype\b|time_in_force|not supported/i, 'unsupported_order_type'],
  [/wash trade|day trad|shortable|short sell|not tradable|not active|restricted/i, 'other'],
];

function apiFault(what: string, status: number, message: string): VenueFault {
  const text = `alpaca ${what}: ${status} ${message}`;
  if (status === 401) return new VenueFault('unauthorised', text, { status });
  if (status >= 500) return new VenueFault('unavailable', text, { status });
  const reason = REJECT_REASONS.find(([pattern]) => pattern.test(message))?.[1];
  // Alpaca answers 403 both for an order the account cannot afford (or hold) and for credentials
  // that may not trade: only the first names a reason.
  if (status === 403 && reason === undefined) return new VenueFault('unauthorised', text, { status });
  return new VenueFault('rejected', text, { status, rejectReason: reason ?? 'other' });
}

/** The wait a 429 asks for: Retry-After (seconds), else X-RateLimit-Reset (epoch seconds) from now. */
function retryAfter(headers: Headers, clock: Clock): number | undefined {
  const seconds = Number(headers.get('retry-after') ?? Number.NaN);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
  if (Number.isFinite(reset)) return Math.max(0, reset * 1000 - clock.now());
  return undefined;
}

/** Why a request got no (whole) answer: the error code of the innermost cause, and the causes' words. */
function networkCause(error: unknown): { code: string | undefined; description: string } {
  const words: string[] = [];
  let code: string | undefined;
  let timedOut = false;
  for (let cause: unknown = error, depth = 0; cause !== undefined && depth < 6; depth++) {
    if (!(cause instanceof Error)) {
      words.push(String(cause));
      break;
    }
    if (cause.name === 'TimeoutError') timedOut = true;
    const named = (cause as { code?: unknown }).code;
    if (typeof named === 'string') code = named;
    words.push(cause.message);
    cause = cause.cause;
  }
  return { code, description: timedOut ? 'no answer in time' : words.filter(Boolean).join(': ') };
}

/** The body as text, refused past `maxBytes` (declared or read) without reading the rest. */
async function readCapped(response: Response, maxBytes = DEFAULT_MAX_RESPONSE_BYTES): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new MalformedAnswer(`answer of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new MalformedAnswer(`answer of more than ${maxBytes} bytes is over the ${maxBytes}-byte limit`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---- Decoding Alpaca's JSON. Every reader throws naming the field it refused. ----

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, path: string): Json {
  if (!isObject(value)) throw new MalformedAnswer(`${path} is not an object`);
  return value;
}

function list(value: unknown, path: string): { item: Json; path: string }[] {
  if (!Array.isArray(value)) throw new MalformedAnswer(`${path} is not a list`);
  return value.map((item, index) => ({ item: object(item, `${path}[${index}]`), path: `${path}[${index}]` }));
}

function text(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw new MalformedAnswer(`${path} is not a string`);
  return value;
}

/** Alpaca writes quantities and prices as decimal strings (a few SDKs as numbers): both are read. */
function number(value: unknown, path: string): number {
  const parsed = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof parsed !== 'number' || !Number.isFinite(parsed))
    throw new MalformedAnswer(`${path} is not a number: ${JSON.stringify(value)?.slice(0, 40)}`);
  return parsed;
}

function optionalNumber(value: unknown, path: string): number | undefined {
  return value === null || value === undefined ? undefined : number(value, path);
}

function positive(value: unknown, path: string): number {
  const parsed = number(value, path);
  if (parsed <= 0) throw new MalformedAnswer(`${path} is not positive: ${parsed}`);
  return parsed;
}

function time(value: unknown, path: string): number {
  const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(parsed)) throw new MalformedAnswer(`${path} is not a time: ${String(value)}`);
  return parsed;
}

function side(value: unknown, path: string): Side {
  if (value === 'buy' || value === 'sell') return value;
  throw new MalformedAnswer(`${path} is not buy or sell: ${String(value)}`);
}

/** Alpaca's order types; a trailing stop is a stop whose price follows the market. */
const ORDER_TYPES: Readonly<Record<string, OrderType>> = {
  market: 'market',
  limit: 'limit',
  stop: 'stop',
  stop_limit: 'stop_limit',
  trailing_stop: 'stop',
};

/** Alpaca's order statuses; `working` ones are accepted or partially filled by their filled quantity. */
const STATUSES: Readonly<Record<string, OrderStatus | 'working'>> = {
  pending_new: 'submitted',
  accepted: 'accepted',
  accepted_for_bidding: 'accepted',
  new: 'accepted',
  held: 'accepted',
  partially_filled: 'partially_filled',
  filled: 'filled',
  done_for_day: 'working',
  pending_replace: 'working',
  stopped: 'working',
  suspended: 'working',
  calculated: 'working',
  pending_cancel: 'pending_cancel',
  canceled: 'canceled',
  // Sluice never replaces an order: one replaced (by hand) is gone, its successor is another order.
  replaced: 'canceled',
  expired: 'expired',
  rejected: 'rejected',
};

/** An order of a class with legs: a bracket, one-cancels-other or one-triggers-other. */
function hasLegs(json: Json): boolean {
  return ['bracket', 'oco', 'oto'].includes(String(json.order_class));
}

function venueOrder(value: unknown, path: string): VenueOrder {
  const json = object(value, path);
  const venueOrderId = text(json.id, `${path}.id`);
  const rawStatus = String(json.status);
  const mapped = STATUSES[rawStatus];
  if (mapped === undefined) throw new MalformedAnswer(`${path}.status is unknown: ${rawStatus.slice(0, 40)}`);
  if (json.qty === null || json.qty === undefined)
    throw new MalformedAnswer(`${path}.qty is missing (a notional order, which Sluice does not track)`);
  const quantity = positive(json.qty, `${path}.qty`);
  const filledQuantity = number(json.filled_qty ?? 0, `${path}.filled_qty`);
  const orderType = ORDER_TYPES[String(json.type ?? json.order_type)];
  if (orderType === undefined) throw new MalformedAnswer(`${path}.type is unknown: ${String(json.type)}`);
  const legs = json.legs === null || json.legs === undefined ? [] : list(json.legs, `${path}.legs`);
  const status =
    mapped === 'working'
      ? filledQuantity >= quantity
        ? 'filled'
        : filledQuantity > 0
          ? 'partially_filled'
          : 'accepted'
      : mapped;
  return {
    clientOrderId: typeof json.client_order_id === 'string' ? json.client_order_id : undefined,
    venueOrderId,
    symbol: text(json.symbol, `${path}.symbol`),
    side: side(json.side, `${path}.side`),
    orderType,
    quantity,
    filledQuantity,
    averageFillPrice:
      filledQuantity > 0 ? optionalNumber(json.filled_avg_price, `${path}.filled_avg_price`) : undefined,
    limitPrice: optionalNumber(json.limit_price, `${path}.limit_price`),
    stopPrice: optionalNumber(json.stop_price, `${path}.stop_price`),
    status,
    legs: legs.map(({ item, path: legPath }) => venueOrder(item, legPath)),
    updatedAt: time(json.updated_at ?? json.submitted_at ?? json.created_at, `${path}.updated_at`),
    reason: rawStatus === 'replaced' ? `replaced by ${String(json.replaced_by)}` : undefined,
  };
}

/** An asset's instrument rules (see venueRules). */
function assetRules(asset: Json): InstrumentSpec {
  if (asset.class !== 'crypto') return { lotSize: 1 };
  const spec: InstrumentSpec = {};
  const lotSize = optionalNumber(asset.min_trade_increment, 'asset.min_trade_increment');
  const minQuantity = optionalNumber(asset.min_order_size, 'asset.min_order_size');
  const tickSize = optionalNumber(asset.price_increment, 'asset.price_increment');
  if (lotSize !== undefined && lotSize > 0) spec.lotSize = lotSize;
  if (minQuantity !== undefined && minQuantity > 0) spec.minQuantity = minQuantity;
  if (tickSize !== undefined && tickSize > 0) spec.tickSize = tickSize;
  return spec;
}

function position(json: Json, path: string): VenuePosition {
  const size = Math.abs(number(json.qty, `${path}.qty`));
  const direction = json.side === 'short' ? -1 : 1;
  return {
    symbol: text(json.symbol, `${path}.symbol`),
    quantity: direction * size,
    averagePrice: number(json.avg_entry_price, `${path}.avg_entry_price`),
  };
}

/** A FILL activity; `cumulative` (the order's filled quantity after it) orders one millisecond's fills. */
function fillActivity(json: Json, path: string): { fill: VenueFill; cumulative: number } {
  const id = text(json.id, `${path}.id`);
  const executionId = id.includes('::') ? id.slice(id.indexOf('::') + 2) : id;
  return {
    fill: {
      venueFillId: executionId,
      venueOrderId: text(json.order_id, `${path}.order_id`),
      clientOrderId: undefined,
      symbol: text(json.symbol, `${path}.symbol`),
      side: side(json.side, `${path}.side`),
      quantity: positive(json.qty, `${path}.qty`),
      price: positive(json.price, `${path}.price`),
      // Alpaca charges no commission on these; its regulatory fees are activities of their own.
      fee: 0,
      // Alpaca does not say which side of the book an execution took.
      liquidity: 'taker',
      ts: time(json.transaction_time, `${path}.transaction_time`),
    },
    cumulative: number(json.cum_qty ?? 0, `${path}.cum_qty`),
  };
}

const FILL_EVENTS = new Set(['fill', 'partial_fill']);

/** A trade_updates message's data: the order as it now is, and the execution of a fill event. */
function tradeUpdate(value: unknown): VenueUpdate {
  const data = object(value, 'data');
  const event = text(data.event, 'data.event');
  const order = venueOrder(data.order, 'data.order');
  if (!FILL_EVENTS.has(event)) return { order, fill: undefined };
  return {
    order,
    fill: {
      venueFillId: text(data.execution_id, 'data.execution_id'),
      venueOrderId: order.venueOrderId,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
      side: order.side,
      quantity: positive(data.qty, 'data.qty'),
      price: positive(data.price, 'data.price'),
      fee: 0,
      liquidity: 'taker',
      ts: time(data.timestamp, 'data.timestamp'),
    },
  };
}
