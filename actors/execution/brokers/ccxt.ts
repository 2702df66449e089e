// A crypto exchange account as a LiveBroker, through ccxt (REST and its WebSocket classes, ccxt.pro, in
// one client). Binance spot is the exchange this is built and tested for (against the loopback fixture
// test/support/loopback/binance-trading.ts); ccxt's exchanges built on its binance class are accepted
// too, any other id is refused, because the update stream reads Binance's executionReport (below).
//
// Orders: market, limit, stop (Binance STOP_LOSS: ccxt's `triggerPrice` on a market order) and
// stop_limit (STOP_LOSS_LIMIT), time in force gtc/ioc/fok on the limit kinds (Binance has no DAY: a
// day limit is refused as unsupported_order_type). A bracket is refused as unsupported_order_type:
// Binance's OTOCO order list would place one, but ccxt has no unified call for it (see the report).
// reduce_only has no spot meaning and is not sent (a spot sell needs the base asset anyway).
//
// Idempotency: the client order id is sent as ccxt's `clientOrderId` (Binance: newClientOrderId).
// Binance keeps a client order id unique among OPEN orders only: once the first order filled, a second
// one with the same id is accepted. So submit() first asks for the id (GET /api/v3/order by
// origClientOrderId) and returns the order the venue has; a "Duplicate order sent." (the first one
// still open, not yet visible to the query) also resolves with the existing order. Nothing is retried
// here: a fault is thrown as a VenueFault and the actor decides.
//
// Updates: one Binance executionReport carries an order's new state and, on a trade, the execution
// that made it. ccxt's watchOrders / watchMyTrades split that into two caches read separately (states
// of one order conflated between reads, fills apart from them); instead every executionReport is taken
// off the socket as it arrives and read with ccxt's own parsers (parseWsOrder, parseWsTrade: what
// watchOrders / watchMyTrades return) into one VenueUpdate, in the venue's order. watchOrders still
// opens and holds the user data stream (ccxt subscribes spot user data over Binance's WebSocket API,
// userDataStream.subscribe.signature) and tells when it ends. A dropped stream is reopened with a
// capped backoff; 'connected' is said only once the subscription is answered, so the reconciliation
// that follows sees everything the stream will not. A stream message that cannot be read is not
// guessed at: the stream is dropped and reopened, which makes the actor reconcile.
//
// Positions: spot has none, only balances. A configured market's position is the total (free + locked)
// balance of its base asset, so never negative, marked `balance`; averagePrice is 0 because balances
// carry no cost. On Binance a buy's commission comes out of the base asset (unless paid in BNB), so the
// balance is the filled quantity less that commission: such a fill says so in `baseCommission`, and
// reconciliation compares balances net of those and of what the account held before (reconcile.ts).
// Fees in fills are in the quote currency: a fee in the base asset is priced at the fill's price, a fee
// in a third asset (BNB) reads 0.
import ccxt, { type MarketInterface, type Order, type Trade } from 'ccxt';
import type { OrderIntent } from '../../../schemas/messages.ts';
import type { InstrumentSpec, VenueRules } from '../../risk/venue-rules.ts';
import {
  type LiveBroker,
  type RejectReason,
  VenueFault,
  type VenueFill,
  type VenueOrder,
  type VenuePosition,
  type VenueUpdate,
} from '../broker-adapter.ts';

export interface CcxtBrokerOptions {
  /** ccxt exchange id: `binance` (or an exchange ccxt builds on its binance class). */
  readonly exchange: string;
  readonly apiKey: string;
  readonly secret: string;
  /** The exchange's sandbox (Binance: the spot testnet), a paper account; false is real money. */
  readonly sandbox: boolean;
  /**
   * The markets Sluice trades here (ccxt unified symbols, `BTC/USDT`). Binance reads fills and orders
   * per market, and spot positions are base-asset balances, so these say where to look.
   */
  readonly symbols: readonly string[];
  /** Replaces the REST base (ccxt's `urls.api.public` and `.private`, Binance's `.../api/v3`). */
  readonly restUrl?: string;
  /** Replaces the WebSocket API endpoint (ccxt's `urls.api.ws['ws-api'].spot`, Binance's `.../ws-api/v3`). */
  readonly wsUrl?: string;
  /** How long one request may take before its outcome is unknown; default 10 s (ccxt's). */
  readonly requestTimeoutMs?: number;
}

export interface CcxtBroker extends LiveBroker {
  /** The markets' rules (precision and limits) for those of `symbols` the exchange lists. */
  venueRules(symbols: readonly string[]): Promise<VenueRules>;
}

export function createCcxtBroker(options: CcxtBrokerOptions): CcxtBroker {
  return new CcxtLiveBroker(options);
}

/**
 * The venue's rules for `symbols` from ccxt's loaded markets: lot size and tick size from
 * `precision.amount` / `.price` (steps under TICK_SIZE, decimal places under DECIMAL_PLACES; nothing
 * under SIGNIFICANT_DIGITS, which has no fixed step), minimum quantity from `limits.amount.min`,
 * minimum notional from `limits.cost.min`. A rule the market does not state (or states as 0) is left out.
 */
export function venueRulesFromMarkets(
  markets: Readonly<Record<string, MarketInterface | undefined>>,
  symbols: readonly string[],
  precisionMode: number | undefined,
): VenueRules {
  const rules: VenueRules = {};
  for (const symbol of symbols) {
    const market = markets[symbol];
    if (!market) throw new Error(`the exchange has no market ${symbol}`);
    const spec: InstrumentSpec = {};
    const lotSize = stepOf(market.precision.amount, precisionMode);
    const tickSize = stepOf(market.precision.price, precisionMode);
    const minQuantity = market.limits.amount?.min;
    const minNotional = market.limits.cost?.min;
    if (lotSize !== undefined) spec.lotSize = lotSize;
    if (isPositive(minQuantity)) spec.minQuantity = minQuantity;
    if (isPositive(minNotional)) spec.minNotional = minNotional;
    if (tickSize !== undefined) spec.tickSize = tickSize;
    rules[symbol] = spec;
  }
  return rules;
}

/** A step the venue-rules schema takes (at least 1e-12), from a ccxt precision. */
function stepOf(precision: number | undefined, precisionMode: number | undefined): number | undefined {
  if (!isPositive(precision)) return undefined;
  const step =
    precisionMode === ccxt.TICK_SIZE
      ? precision
      : precisionMode === ccxt.DECIMAL_PLACES && Number.isInteger(precision)
        ? Number(`1e-${precision}`)
        : undefined;
  return step !== undefined && step >= 1e-12 ? step : undefined;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

type BinanceClass = typeof ccxt.pro.binance;
type BinanceExchange = InstanceType<BinanceClass>;

/** ccxt's WebSocket class for `id`, when it is Binance's or built on it (see the header). */
function binanceClassFor(id: string): BinanceClass {
  const Binance = ccxt.pro.binance;
  const Pro = (ccxt.pro as unknown as Record<string, unknown>)[id];
  if (typeof Pro === 'function' && (Pro === Binance || Pro.prototype instanceof Binance)) {
    return Pro as BinanceClass;
  }
  throw new Error(
    `ccxt broker: exchange "${id}" is not supported (the update stream reads Binance's executionReport; binance is the one built and tested)`,
  );
}

const DAY_MS = 86_400_000;
/** Binance's largest myTrades page. */
const TRADES_PAGE = 1000;
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 10_000;
/** Ids remembered (client id ↔ market ↔ venue id); the oldest are forgotten past this. */
const REMEMBERED_ORDERS = 10_000;

/** A venue answer Sluice cannot read (a missing or impossible field); never turned into a report. */
class UnreadableAnswer extends Error {}

type Operation = 'submit' | 'cancel' | 'read';

interface OrderRequest {
  readonly type: 'market' | 'limit';
  readonly price: number | undefined;
  readonly params: Record<string, string | number>;
}

class CcxtLiveBroker implements CcxtBroker {
  readonly venue: string;
  readonly accountMode: 'paper' | 'live';
  private readonly exchange: BinanceExchange;
  private readonly updateListeners = new Set<(update: VenueUpdate) => void>();
  private readonly connectionListeners = new Set<(state: 'connected' | 'disconnected') => void>();
  /** client order id → market, for look-ups and cancels of orders seen. */
  private readonly symbolOf = new Map<string, string>();
  /** venue order id → client order id: Binance's trade list names only the venue's order id. */
  private readonly clientIdOf = new Map<string, string>();
  /** Each opening of the stream; a watch loop of an older one ends quietly. */
  private generation = 0;
  private connected = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: CcxtBrokerOptions) {
    this.venue = options.exchange;
    this.accountMode = options.sandbox ? 'paper' : 'live';
    const Binance = binanceClassFor(options.exchange);
    const broker = this;
    class Watched extends Binance {
      override handleMessage(
        client: Parameters<BinanceExchange['handleMessage']>[0],
        message: unknown,
      ): void {
        broker.onStreamMessage(message, () => super.handleMessage(client, message));
      }

      // ccxt creates a promise for concurrent subscribers before it subscribes and rejects it when the
      // subscription fails, with no handler when nobody else waited: an unhandled rejection (which ends
      // a Node process) on every failed reconnect. The caller hears the same failure from this call.
      override ensureUserDataStreamWsSubscribeSignature(marketType = 'spot'): Promise<void> {
        const subscribing = super.ensureUserDataStreamWsSubscribeSignature(marketType);
        const url = webSocketApiUrls(this)?.[marketType];
        const ahead =
          url === undefined
            ? undefined
            : this.clients[url]?.futures?.[`authenticate:signature:${marketType}`];
        (ahead as Promise<unknown> | undefined)?.catch(() => undefined);
        return subscribing;
      }
    }
    this.exchange = new Watched({
      apiKey: options.apiKey,
      secret: options.secret,
      enableRateLimit: true,
      timeout: options.requestTimeoutMs ?? 10_000,
      options: {
        defaultType: 'spot',
        // Only the spot market list (Binance: GET /api/v3/exchangeInfo); no currency or margin calls.
        fetchMarkets: { types: ['spot'] },
        fetchCurrencies: false,
        fetchMargins: false,
        // Open orders of every market in one call: orders placed by hand anywhere must show.
        warnOnFetchOpenOrdersWithoutSymbol: false,
      },
    });
    // Sandbox first: it swaps ccxt's URL table, which the overrides below then change.
    if (options.sandbox) this.exchange.setSandboxMode(true);
    const api = this.exchange.urls.api as Record<string, unknown>;
    if (options.restUrl) {
      api.public = options.restUrl;
      api.private = options.restUrl;
    }
    const wsApi = webSocketApiUrls(this.exchange);
    if (options.wsUrl && wsApi) wsApi.spot = options.wsUrl;
  }

  async connect(): Promise<void> {
    if (this.closed) throw new Error('ccxt broker: connect() after close()');
    try {
      // ccxt opens a plain ws:// socket (loopback, a private endpoint) only through an agent it loads first.
      if (this.options.wsUrl?.startsWith('ws://')) await this.exchange.loadHttpProxyAgent();
      await this.exchange.loadMarkets();
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    this.checkSymbols();
    try {
      await this.exchange.fetchBalance(); // the credentials, over REST where orders go
      await this.openStream();
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    clearTimeout(this.reconnectTimer);
    await this.exchange.close();
    this.connected = false;
  }

  async venueRules(symbols: readonly string[]): Promise<VenueRules> {
    let markets: Record<string, MarketInterface | undefined>;
    try {
      // Loaded once (connect() reuses them); GET /api/v3/exchangeInfo on Binance.
      markets = await this.exchange.loadMarkets();
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    return venueRulesFromMarkets(
      markets,
      symbols.filter((symbol) => markets[symbol] !== undefined),
      this.exchange.precisionMode,
    );
  }

  async submit(intent: OrderIntent, clientOrderId: string): Promise<VenueOrder> {
    const request = this.orderRequest(intent, clientOrderId);
    const existing = await this.findOrder(clientOrderId, [intent.symbol]);
    if (existing) return existing;
    let placed: Order;
    try {
      placed = await this.exchange.createOrder(
        intent.symbol,
        request.type,
        intent.side,
        intent.quantity,
        request.price,
        request.params,
      );
    } catch (error) {
      if (!isDuplicate(error)) throw faultOf(error, 'submit', this.exchange);
      const found = await this.findOrder(clientOrderId, [intent.symbol]);
      if (found) return found;
      throw new VenueFault('rejected', `${this.venue}: ${messageOf(error)}`, {
        rejectReason: 'duplicate_client_order_id',
      });
    }
    return this.read(placed, 'submit', clientOrderId);
  }

  async cancel(clientOrderId: string, venueOrderId: string | undefined): Promise<VenueOrder | undefined> {
    const symbol =
      this.symbolOf.get(clientOrderId) ?? (await this.findOrder(clientOrderId, this.options.symbols))?.symbol;
    if (symbol === undefined) {
      throw new VenueFault('not_found', `${this.venue} has no order ${clientOrderId}`);
    }
    try {
      // By the venue's id when known (Binance cancels faster by orderId), else by the client id.
      const canceled = await this.exchange.cancelOrder(
        venueOrderId ?? '',
        symbol,
        venueOrderId === undefined ? { clientOrderId } : {},
      );
      // Binance's cancel answer names the cancel's own client id; the order's is the one asked for.
      return this.read(canceled, 'cancel', clientOrderId);
    } catch (error) {
      if (!(error instanceof ccxt.OrderNotFound)) throw faultOf(error, 'cancel', this.exchange);
      // Binance answers "Unknown order sent." for an order that is no longer open (a fill won the
      // race): its state says what happened.
      const order = await this.findOrder(clientOrderId, [symbol]);
      if (order) return order;
      throw new VenueFault('not_found', `${this.venue}: ${messageOf(error)}`);
    }
  }

  orderByClientId(clientOrderId: string): Promise<VenueOrder | undefined> {
    const seenIn = this.symbolOf.get(clientOrderId);
    return this.findOrder(
      clientOrderId,
      seenIn === undefined ? this.options.symbols : [seenIn, ...this.options.symbols],
    );
  }

  async openOrders(): Promise<VenueOrder[]> {
    let orders: Order[];
    try {
      orders = await this.exchange.fetchOpenOrders();
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    return orders.map((order) => this.read(order, 'read'));
  }

  async positions(): Promise<VenuePosition[]> {
    let totals: unknown;
    try {
      totals = (await this.exchange.fetchBalance()).total;
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    const positions: VenuePosition[] = [];
    for (const symbol of this.options.symbols) {
      const base = this.exchange.market(symbol).base;
      const total = (totals as Record<string, unknown> | undefined)?.[base] ?? 0;
      if (typeof total !== 'number' || !Number.isFinite(total) || total < 0) {
        throw new VenueFault('unavailable', `${this.venue}: balance of ${base} unreadable: ${String(total)}`);
      }
      // Every configured market, 0 included: a balance sold down to nothing is still compared.
      positions.push({ symbol, quantity: total, averagePrice: 0, balance: true });
    }
    return positions;
  }

  async fillsSince(since: number): Promise<VenueFill[]> {
    const fills: VenueFill[] = [];
    for (const symbol of this.options.symbols) {
      for (const trade of await this.tradesSince(symbol, since)) {
        fills.push(this.readFill(trade, symbol, undefined, 'read'));
      }
    }
    for (const fill of fills) {
      fill.clientOrderId = await this.clientIdOfOrder(fill.venueOrderId, fill.symbol);
    }
    return fills.sort((a, b) => a.ts - b.ts || compareIds(a.venueFillId, b.venueFillId));
  }

  async fillsOfOrder(symbol: string, venueOrderId: string): Promise<VenueFill[] | undefined> {
    // Binance: GET /api/v3/myTrades?orderId=…, whatever the trades' times.
    if (!this.exchange.has.fetchOrderTrades) return undefined;
    let trades: Trade[];
    try {
      trades = await this.exchange.fetchOrderTrades(venueOrderId, symbol);
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    const clientOrderId = await this.clientIdOfOrder(venueOrderId, symbol);
    return trades
      .map((trade) => this.readFill(trade, symbol, clientOrderId, 'read'))
      .sort((a, b) => a.ts - b.ts || compareIds(a.venueFillId, b.venueFillId));
  }

  onUpdate(listener: (update: VenueUpdate) => void): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  onConnection(listener: (state: 'connected' | 'disconnected') => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  // --- orders --------------------------------------------------------------------------------------

  /** The ccxt call for an intent; refuses what this venue cannot take before anything is sent. */
  private orderRequest(intent: OrderIntent, clientOrderId: string): OrderRequest {
    const refuse = (reason: RejectReason, message: string): VenueFault =>
      new VenueFault('rejected', `${this.venue} ${intent.symbol}: ${message}`, { rejectReason: reason });
    if (intent.bracket) {
      throw refuse(
        'unsupported_order_type',
        'brackets are not placed through ccxt (Binance has OTOCO order lists, ccxt no unified call for them)',
      );
    }
    if (!this.exchange.markets?.[intent.symbol]) throw refuse('other', 'no such market at the venue');
    // ccxt would cut an amount to the lot and round a price to the tick without a word: an order the
    // venue holds must be the order asked for, so off-step values are refused instead.
    const onStep = (value: number, toPrecision: (value: number) => string | undefined): boolean => {
      try {
        return Number(toPrecision(value)) === value;
      } catch {
        return false; // below one step
      }
    };
    if (!onStep(intent.quantity, (value) => this.exchange.amountToPrecision(intent.symbol, value))) {
      throw refuse('invalid_quantity', `quantity ${intent.quantity} is not a whole number of lots`);
    }
    for (const price of [intent.limit_price, intent.stop_price]) {
      if (
        price !== undefined &&
        !onStep(price, (value) => this.exchange.priceToPrecision(intent.symbol, value))
      ) {
        throw refuse('invalid_price', `price ${price} is not on the tick`);
      }
    }
    const limited = intent.order_type === 'limit' || intent.order_type === 'stop_limit';
    const stopped = intent.order_type === 'stop' || intent.order_type === 'stop_limit';
    const params: Record<string, string | number> = { clientOrderId };
    if (limited) {
      if (intent.limit_price === undefined)
        throw refuse('invalid_price', `${intent.order_type} without a limit price`);
      if (intent.time_in_force === 'day') {
        throw refuse('unsupported_order_type', 'time in force day (the venue has gtc, ioc and fok)');
      }
      params.timeInForce = intent.time_in_force.toUpperCase();
    }
    if (stopped) {
      if (intent.stop_price === undefined)
        throw refuse('invalid_price', `${intent.order_type} without a stop price`);
      params.triggerPrice = intent.stop_price;
    }
    return { type: limited ? 'limit' : 'market', price: limited ? intent.limit_price : undefined, params };
  }

  /** The order the venue holds under `clientOrderId` in the first of `markets` that has one. */
  private async findOrder(
    clientOrderId: string,
    markets: readonly string[],
  ): Promise<VenueOrder | undefined> {
    for (const market of new Set(markets)) {
      let order: Order;
      try {
        order = await this.exchange.fetchOrder('', market, { clientOrderId });
      } catch (error) {
        if (error instanceof ccxt.OrderNotFound) continue;
        throw faultOf(error, 'read', this.exchange);
      }
      return this.read(order, 'read', clientOrderId);
    }
    return undefined;
  }

  /** The client order id of a venue order (Binance's trade list names only the venue's id). */
  private async clientIdOfOrder(venueOrderId: string, symbol: string): Promise<string | undefined> {
    const known = this.clientIdOf.get(venueOrderId);
    if (known !== undefined) return known;
    let order: Order;
    try {
      order = await this.exchange.fetchOrder(venueOrderId, symbol);
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
    return this.read(order, 'read').clientOrderId;
  }

  /**
   * The account's trades in `symbol` at or after `since`. Binance answers at most 24 hours per time
   * query but pages forward by trade id without limit: the first trade of the day from `since` seeds the
   * id; a day without one starts from the account's first trade (fromId 0) and skips what is older.
   */
  private async tradesSince(symbol: string, since: number): Promise<Trade[]> {
    const [first] = await this.myTrades(symbol, since, 1, { until: since + DAY_MS - 1 });
    let fromId = first === undefined ? 0n : tradeIdOf(first, this.venue);
    const trades: Trade[] = [];
    for (;;) {
      const page = await this.myTrades(symbol, undefined, TRADES_PAGE, { fromId: fromId.toString() });
      for (const trade of page) {
        const id = tradeIdOf(trade, this.venue);
        if (id < fromId)
          throw new VenueFault('unavailable', `${this.venue}: trade ids out of order at ${id}`);
        fromId = id + 1n;
        if ((trade.timestamp ?? 0) >= since) trades.push(trade);
      }
      if (page.length < TRADES_PAGE) return trades;
    }
  }

  private async myTrades(
    symbol: string,
    since: number | undefined,
    limit: number,
    params: Record<string, string | number>,
  ): Promise<Trade[]> {
    try {
      return await this.exchange.fetchMyTrades(symbol, since, limit, params);
    } catch (error) {
      throw faultOf(error, 'read', this.exchange);
    }
  }

  /** A venue order as VenueOrder, remembered; unreadable: unknown outcome for a submit, else unavailable. */
  private read(order: Order, operation: Operation, clientOrderId?: string): VenueOrder {
    try {
      const venueOrder = venueOrderOf(order, clientOrderId);
      this.remember(venueOrder);
      return venueOrder;
    } catch (error) {
      throw unreadable(error, operation, this.venue);
    }
  }

  private readFill(
    trade: Trade,
    symbol: string,
    clientOrderId: string | undefined,
    operation: Operation,
  ): VenueFill {
    try {
      return venueFillOf(trade, clientOrderId, this.exchange.market(symbol));
    } catch (error) {
      throw unreadable(error, operation, this.venue);
    }
  }

  private remember(order: VenueOrder): void {
    if (order.clientOrderId === undefined) return;
    remember(this.symbolOf, order.clientOrderId, order.symbol);
    remember(this.clientIdOf, order.venueOrderId, order.clientOrderId);
  }

  /** Spot positions are base balances: two markets on one base asset could not be told apart. */
  private checkSymbols(): void {
    const marketOfBase = new Map<string, string>();
    for (const symbol of this.options.symbols) {
      const market = this.exchange.markets?.[symbol];
      if (!market) throw new Error(`ccxt broker: ${this.venue} has no market ${symbol}`);
      const other = marketOfBase.get(market.base);
      if (other !== undefined) {
        throw new Error(
          `ccxt broker: ${other} and ${symbol} share the base asset ${market.base}; spot balances cannot say which holds it`,
        );
      }
      marketOfBase.set(market.base, symbol);
    }
  }

  // --- the update stream ---------------------------------------------------------------------------

  /** Subscribes the user data stream and says 'connected' once the venue answered. */
  private async openStream(): Promise<void> {
    const generation = ++this.generation;
    // Binance spot: the WebSocket API subscription (userDataStream.subscribe.signature), answered first.
    await this.exchange.authenticate({ type: 'spot' });
    if (generation !== this.generation) return;
    void this.watchUntilDropped(generation);
    this.setConnection('connected');
  }

  /** Holds the stream open through watchOrders; its rejection is the stream ending. */
  private async watchUntilDropped(generation: number): Promise<void> {
    try {
      for (;;) await this.exchange.watchOrders();
    } catch {
      // The stream ended (dropped, refused, closed): said below, and reopened unless closing.
    }
    if (this.closed || generation !== this.generation) return;
    this.setConnection('disconnected');
    this.reopenStream(RECONNECT_FIRST_MS);
  }

  private reopenStream(delayMs: number): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.openStream().catch(() => {
        if (!this.closed) this.reopenStream(Math.min(delayMs * 2, RECONNECT_MAX_MS));
      });
    }, delayMs);
  }

  private setConnection(state: 'connected' | 'disconnected'): void {
    const connected = state === 'connected';
    if (connected === this.connected) return;
    this.connected = connected;
    for (const listener of [...this.connectionListeners]) listener(state);
  }

  /** Every message off ccxt's sockets: executionReports are read here, the rest go on to ccxt. */
  private onStreamMessage(message: unknown, passOn: () => void): void {
    if (typeof message === 'string') {
      this.dropStream(); // ccxt hands over text that is not JSON as a string
      return;
    }
    const event = userDataEvent(message);
    if (event?.e === 'executionReport') {
      this.onExecutionReport(event);
      return;
    }
    try {
      passOn();
    } catch {
      this.dropStream(); // a frame ccxt's own handler choked on
    }
  }

  private onExecutionReport(event: Record<string, unknown>): void {
    let update: VenueUpdate;
    try {
      const order = venueOrderOf(this.exchange.parseWsOrder(event));
      const fill =
        event.x === 'TRADE'
          ? venueFillOf(
              this.exchange.parseWsTrade(event),
              order.clientOrderId,
              this.exchange.markets?.[order.symbol],
            )
          : undefined;
      update = { order, fill };
    } catch {
      this.dropStream();
      return;
    }
    this.remember(update.order);
    for (const listener of [...this.updateListeners]) listener(update);
  }

  /**
   * An update that cannot be read is one lost: the stream is closed, so the actor hears 'disconnected',
   * then 'connected' when it is reopened, and reconciles with the venue over REST.
   */
  private dropStream(): void {
    const wsApiUrl = webSocketApiUrls(this.exchange)?.spot;
    const client = wsApiUrl === undefined ? undefined : this.exchange.clients[wsApiUrl];
    (client as { close?: () => unknown } | undefined)?.close?.();
  }
}

/** ccxt's table of Binance WebSocket API endpoints by market type (`urls.api.ws['ws-api']`). */
function webSocketApiUrls(exchange: BinanceExchange): Record<string, string> | undefined {
  return (exchange.urls.api as { ws?: { 'ws-api'?: Record<string, string> } }).ws?.['ws-api'];
}

/** The event of a Binance WebSocket API user-data message (`{subscriptionId, event}`), or the message itself. */
function userDataEvent(message: unknown): Record<string, unknown> | undefined {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return undefined;
  const { event } = message as { event?: unknown };
  return event !== null && typeof event === 'object' && !Array.isArray(event)
    ? (event as Record<string, unknown>)
    : (message as Record<string, unknown>);
}

/** Binance's trade id, a number: the key of paging by fromId. */
function tradeIdOf(trade: Trade, venue: string): bigint {
  if (typeof trade.id === 'string' && /^\d{1,20}$/.test(trade.id)) return BigInt(trade.id);
  throw new VenueFault('unavailable', `${venue}: trade id unreadable: ${String(trade.id).slice(0, 80)}`);
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBERED_ORDERS) map.delete(map.keys().next().value as K);
}

/** Numeric ids (Binance's) by value, others as text. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

// --- reading ccxt's structures ---------------------------------------------------------------------

const STATUSES = new Map<string, (filled: number) => VenueOrder['status']>([
  ['open', (filled) => (filled > 0 ? 'partially_filled' : 'accepted')],
  ['closed', () => 'filled'],
  ['canceled', () => 'canceled'],
  ['canceling', () => 'pending_cancel'],
  ['expired', () => 'expired'],
  ['rejected', () => 'rejected'],
]);

/** ccxt's order as VenueOrder; `clientOrderId`, when given, is the one asked for (see cancel()). */
function venueOrderOf(order: Order, clientOrderId?: string): VenueOrder {
  const venueOrderId = idOf(order.id, 'order id');
  const symbol = idOf(order.symbol, 'symbol');
  const side =
    order.side === 'buy' || order.side === 'sell' ? order.side : unreadableField('side', order.side);
  const quantity = positive(order.amount, 'amount');
  const filledQuantity = order.filled === undefined ? 0 : nonNegative(order.filled, 'filled');
  if (filledQuantity > quantity * (1 + 1e-9)) unreadableField('filled', `${filledQuantity} of ${quantity}`);
  const status =
    STATUSES.get(String(order.status))?.(filledQuantity) ?? unreadableField('status', order.status);
  // Binance sends a stop price of 0 on orders without one.
  const trigger = order.triggerPrice ?? order.stopPrice;
  const stopPrice = trigger === undefined || trigger === 0 ? undefined : positive(trigger, 'trigger price');
  if (order.type !== 'market' && order.type !== 'limit') unreadableField('type', order.type);
  const limited = order.type === 'limit';
  const updatedAt = epochMs(order.lastUpdateTimestamp ?? order.lastTradeTimestamp ?? order.timestamp);
  const info = (order.info ?? {}) as { r?: unknown };
  return {
    clientOrderId:
      clientOrderId ??
      (order.clientOrderId === undefined ? undefined : idOf(order.clientOrderId, 'client order id')),
    venueOrderId,
    symbol,
    side,
    orderType: limited
      ? stopPrice === undefined
        ? 'limit'
        : 'stop_limit'
      : stopPrice === undefined
        ? 'market'
        : 'stop',
    quantity,
    filledQuantity,
    averageFillPrice: filledQuantity > 0 ? positive(order.average, 'average price') : undefined,
    limitPrice: limited ? positive(order.price, 'limit price') : undefined,
    stopPrice,
    status,
    legs: [],
    updatedAt,
    // Binance's reject reason of an executionReport ("NONE" when there is none).
    reason: typeof info.r === 'string' && info.r !== 'NONE' ? info.r.slice(0, 200) : undefined,
  };
}

/** ccxt's trade as VenueFill, its fee in the market's quote currency (see the header). */
function venueFillOf(
  trade: Trade,
  clientOrderId: string | undefined,
  market: MarketInterface | undefined,
): VenueFill {
  const price = positive(trade.price, 'price');
  const fee = trade.fee;
  const feeCost = fee?.cost === undefined ? 0 : nonNegative(fee.cost, 'fee');
  const feeInQuote =
    fee?.currency === market?.quote ? feeCost : fee?.currency === market?.base ? feeCost * price : 0;
  const liquidity = trade.takerOrMaker;
  return {
    venueFillId: idOf(trade.id, 'trade id'),
    venueOrderId: idOf(trade.order, 'order id'),
    clientOrderId,
    symbol: idOf(trade.symbol, 'symbol'),
    side: trade.side === 'buy' || trade.side === 'sell' ? trade.side : unreadableField('side', trade.side),
    quantity: positive(trade.amount, 'amount'),
    price,
    fee: feeInQuote,
    ...(fee?.currency !== undefined && fee.currency === market?.base && feeCost > 0
      ? { baseCommission: feeCost }
      : {}),
    liquidity:
      liquidity === 'maker' || liquidity === 'taker' ? liquidity : unreadableField('liquidity', liquidity),
    ts: epochMs(trade.timestamp),
  };
}

function unreadableField(field: string, value: unknown): never {
  throw new UnreadableAnswer(`${field} ${JSON.stringify(value)?.slice(0, 80) ?? String(value)}`);
}

function idOf(value: unknown, field: string): string {
  return typeof value === 'string' && value.length > 0 && value.length <= 128
    ? value
    : unreadableField(field, value);
}

function positive(value: unknown, field: string): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
    ? value
    : unreadableField(field, value);
}

function nonNegative(value: unknown, field: string): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? value
    : unreadableField(field, value);
}

/** Epoch ms between 2000 and 2100: a venue time, not a count or a seconds value. */
function epochMs(value: unknown): number {
  return typeof value === 'number' &&
    Number.isInteger(value) &&
    value >= 946_684_800_000 &&
    value < 4_102_444_800_000
    ? value
    : unreadableField('time', value);
}

// --- faults ----------------------------------------------------------------------------------------

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}

/** Binance's "Duplicate order sent." (-2010) comes as InvalidOrder; other exchanges say DuplicateOrderId. */
function isDuplicate(error: unknown): boolean {
  return (
    error instanceof ccxt.DuplicateOrderId ||
    (error instanceof ccxt.InvalidOrder && /Duplicate order sent/.test(messageOf(error)))
  );
}

/** An answer that could not be read: a submit or cancel may have happened; a read just failed. */
function unreadable(error: unknown, operation: Operation, venue: string): VenueFault {
  const kind = operation === 'read' ? 'unavailable' : 'unknown_outcome';
  return new VenueFault(kind, `${venue} answered something unreadable: ${messageOf(error)}`);
}

/** Why the venue refused an order, from ccxt's class and the venue's words (Binance's filter names). */
function rejectReasonOf(error: unknown): RejectReason {
  if (error instanceof ccxt.InsufficientFunds) return 'insufficient_buying_power';
  if (error instanceof ccxt.MarketClosed) return 'market_closed';
  const text = messageOf(error);
  if (/PRICE_FILTER|PERCENT_PRICE/.test(text)) return 'invalid_price';
  if (/LOT_SIZE|NOTIONAL/.test(text)) return 'invalid_quantity';
  if (
    /not supported for this symbol|not a valid order type|is not allowed for|Unsupported order combination/i.test(
      text,
    )
  ) {
    return 'unsupported_order_type';
  }
  if (error instanceof ccxt.OrderImmediatelyFillable || /trigger immediately|price/i.test(text))
    return 'invalid_price';
  if (/quantity|amount|precision/i.test(text)) return 'invalid_quantity';
  return 'other';
}

/**
 * A ccxt failure as the VenueFault the actor acts on. Order of the checks matters: ccxt's classes nest
 * (OrderNotFound and DuplicateOrderId are InvalidOrders, RateLimitExceeded and RequestTimeout are
 * NetworkErrors). What may have reached the venue is unknown_outcome for a submit or cancel: a
 * timeout, a dropped connection, a 5xx (Binance: "the execution status is UNKNOWN"), an unreadable
 * answer; only a refused connection is surely nothing (unavailable).
 */
function faultOf(
  error: unknown,
  operation: Operation,
  exchange: { readonly id: string; readonly last_response_headers?: unknown },
): VenueFault {
  if (error instanceof VenueFault) return error;
  const message = messageOf(error);
  const writes = operation !== 'read';
  if (error instanceof ccxt.AuthenticationError) return new VenueFault('unauthorised', message);
  if (error instanceof ccxt.OrderNotFound) return new VenueFault('not_found', message);
  if (
    error instanceof ccxt.InsufficientFunds ||
    error instanceof ccxt.InvalidOrder ||
    error instanceof ccxt.BadRequest ||
    error instanceof ccxt.OperationRejected
  ) {
    return new VenueFault('rejected', message, { rejectReason: rejectReasonOf(error) });
  }
  if (error instanceof ccxt.RateLimitExceeded || error instanceof ccxt.DDoSProtection) {
    const headers = (exchange.last_response_headers ?? {}) as Record<string, unknown>;
    const retryAfter = Number(headers['Retry-After'] ?? headers['retry-after']);
    return new VenueFault(
      'rate_limited',
      message,
      Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {},
    );
  }
  // The venue read the request and refused its timestamp: nothing happened.
  if (error instanceof ccxt.InvalidNonce) return new VenueFault('unavailable', message);
  if (error instanceof ccxt.NetworkError) {
    const refused = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(message);
    return new VenueFault(writes && !refused ? 'unknown_outcome' : 'unavailable', message);
  }
  if (error instanceof ccxt.ExchangeError) {
    return writes
      ? new VenueFault('rejected', message, { rejectReason: 'other' })
      : new VenueFault('unavailable', message);
  }
  // BadResponse, NullResponse and anything ccxt threw while reading a broken answer.
  return unreadable(error, operation, exchange.id);
}
