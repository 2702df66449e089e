// The real ccxt broker (ccxt.pro.binance: REST and the WebSocket API user data stream) against the Binance
// trading loopback, which keeps real order state and fills from the real BTCUSDT trades of 2021-01-08.
// Tape (trade index: price): 0: 39432.48 (the last price at start), 11: 39430.63 (first at or below
// 39431), 58-61: 39451.98 .. 39452.84 (first at or above 39450; 0.04222, 0.000004, 0.000996 and
// 0.012204 BTC).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { VenueFault, type VenueUpdate } from '../../actors/execution/broker-adapter.ts';
import {
  type CcxtBroker,
  type CcxtBrokerOptions,
  createCcxtBroker,
} from '../../actors/execution/brokers/ccxt.ts';
import { VenueRulesConfigSchema } from '../../actors/risk/config.ts';
import { roundPriceToTick, venueQuantity } from '../../actors/risk/venue-rules.ts';
import type { OrderIntent } from '../../schemas/messages.ts';
import { BinanceTradingLoopback, type BinanceTradingOptions } from '../support/loopback/binance-trading.ts';
import { clientOrderIdOf, orderIntent } from '../support/orders.ts';
import { until } from '../support/wait.ts';

const API_KEY = 'loopback-trading-key';
const SECRET = 'loopback-trading-secret';
const START = 1_610_064_000_278; // the first trade's time: the exchange's clock at start

let sequence = 0;
/** An order intent as the risk gate passes it, and the client order id the actor sends for it. */
function order(fields: Partial<OrderIntent> = {}): { intent: OrderIntent; clientOrderId: string } {
  sequence++;
  const intent = orderIntent(`sig:broker-test:${sequence}`, {
    ts_event: START,
    ts_init: START,
    strategy: 'broker-test',
    symbol: 'BTC/USDT',
    quantity: 0.001,
    time_in_force: 'ioc',
    ...fields,
  });
  return { intent, clientOrderId: clientOrderIdOf(intent) };
}

async function faultOf(call: Promise<unknown>): Promise<VenueFault> {
  try {
    await call;
  } catch (error) {
    if (error instanceof VenueFault) return error;
    assert.fail(`expected a VenueFault, got ${String(error)}`);
  }
  assert.fail('expected a VenueFault, the call succeeded');
}

const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

interface Harness {
  readonly server: BinanceTradingLoopback;
  readonly broker: CcxtBroker;
  readonly updates: VenueUpdate[];
  readonly states: Array<'connected' | 'disconnected'>;
}

describe('ccxt broker (Binance spot) against the Binance trading loopback', () => {
  const servers: BinanceTradingLoopback[] = [];
  const brokers: CcxtBroker[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  after(async () => {
    for (const broker of brokers) await broker.close();
    for (const server of servers) await server.close().catch(() => undefined);
    process.off('unhandledRejection', onUnhandled);
  });

  function brokerFor(server: BinanceTradingLoopback, options: Partial<CcxtBrokerOptions> = {}): CcxtBroker {
    const broker = createCcxtBroker({
      exchange: 'binance',
      apiKey: API_KEY,
      secret: SECRET,
      sandbox: true,
      symbols: ['BTC/USDT'],
      restUrl: server.restUrl,
      wsUrl: server.wsApiUrl,
      requestTimeoutMs: 2_000,
      ...options,
    });
    brokers.push(broker);
    return broker;
  }

  async function setUp(
    serverOptions: Partial<BinanceTradingOptions> = {},
    brokerOptions: Partial<CcxtBrokerOptions> = {},
  ): Promise<Harness> {
    const server = await BinanceTradingLoopback.start({ apiKey: API_KEY, secret: SECRET, ...serverOptions });
    servers.push(server);
    const broker = brokerFor(server, brokerOptions);
    const updates: VenueUpdate[] = [];
    const states: Array<'connected' | 'disconnected'> = [];
    broker.onUpdate((update) => updates.push(update));
    broker.onConnection((state) => states.push(state));
    await broker.connect();
    return { server, broker, updates, states };
  }

  const updatesOf = (updates: readonly VenueUpdate[], clientOrderId: string) =>
    updates.filter((update) => update.order.clientOrderId === clientOrderId);
  const fillsOf = (updates: readonly VenueUpdate[], clientOrderId: string) =>
    updatesOf(updates, clientOrderId).flatMap((update) => (update.fill ? [update.fill] : []));

  it('connects to a sandbox account as paper; a wrong secret or key is unauthorised', async () => {
    const { server, broker, states } = await setUp();
    assert.equal(broker.accountMode, 'paper');
    assert.equal(broker.venue, 'binance');
    assert.deepEqual(states, ['connected']);
    assert.equal(server.userStreams, 1);
    const wrongSecret = brokerFor(server, { secret: 'not-the-secret' });
    const refused = await faultOf(wrongSecret.connect());
    assert.equal(refused.kind, 'unauthorised');
    assert.match(refused.message, /Signature for this request is not valid/);
    const wrongKey = brokerFor(server, { apiKey: 'not-the-key' });
    assert.equal((await faultOf(wrongKey.connect())).kind, 'unauthorised');
    assert.equal(brokerFor(server, { sandbox: false }).accountMode, 'live');
    assert.throws(() => brokerFor(server, { exchange: 'kraken' }), /not supported/);
  });

  it("turns exchangeInfo's LOT_SIZE, PRICE_FILTER and NOTIONAL filters into trading.venueRules", async () => {
    const { broker } = await setUp({}, { symbols: ['BTC/USDT', 'ADA/BTC'] });
    // A market the exchange does not list is left out (the run keeps the config's rules for it).
    const rules = await broker.venueRules(['BTC/USDT', 'ADA/BTC', 'DOGE/USD']);
    // Binance's published BTCUSDT and ADABTC filters (test/support/loopback/binance.ts).
    assert.deepEqual(rules, {
      'BTC/USDT': { lotSize: 0.00001, minQuantity: 0.00001, minNotional: 5, tickSize: 0.01 },
      'ADA/BTC': { lotSize: 0.1, minQuantity: 0.1, minNotional: 0.0001, tickSize: 0.00000001 },
    });
    assert.ok(Value.Check(VenueRulesConfigSchema, rules), 'the config schema takes them');
    const btc = rules['BTC/USDT'] ?? {};
    // The sizer's rounding with them: whole lots, then the venue's minimum notional at the last price.
    assert.deepEqual(
      [venueQuantity(btc, 0.000129, 39_432.48).quantity, venueQuantity(btc, 0.000129, 39_432.48).denial],
      [0, 'BELOW_MIN_NOTIONAL'],
    );
    assert.equal(venueQuantity(btc, 0.0012345, 39_432.48).quantity, 0.00123);
    assert.equal(roundPriceToTick(39_432.487, btc.tickSize ?? 0, 'buy'), 39_432.48);
  });

  it('places market, limit, stop, stop-limit, IOC and FOK orders and reports each change with its fill', async () => {
    const { server, broker, updates } = await setUp();
    const market = order();
    const placed = await broker.submit(market.intent, market.clientOrderId);
    assert.equal(placed.status, 'filled');
    assert.equal(placed.orderType, 'market');
    assert.equal(placed.clientOrderId, market.clientOrderId);
    assert.equal(placed.averageFillPrice, 39_432.48);
    assert.equal(placed.updatedAt, START);
    await until('the market order updates', () => updatesOf(updates, market.clientOrderId).length === 2);
    const [ack, trade] = updatesOf(updates, market.clientOrderId);
    assert.equal(ack?.order.status, 'accepted');
    assert.equal(ack?.fill, undefined);
    assert.deepEqual(trade?.fill && { ...trade.fill, venueFillId: 'id' }, {
      venueFillId: 'id',
      venueOrderId: placed.venueOrderId,
      clientOrderId: market.clientOrderId,
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: 0.001,
      price: 39_432.48,
      // 0.1% of 0.001 BTC, priced at the fill; the BTC itself is what the balance got less.
      fee: 0.000001 * 39_432.48,
      baseCommission: 0.000001,
      liquidity: 'taker',
      ts: START,
    });

    const limit = order({
      side: 'sell',
      quantity: 0.05,
      order_type: 'limit',
      limit_price: 39_450,
      time_in_force: 'gtc',
    });
    const resting = await broker.submit(limit.intent, limit.clientOrderId);
    assert.deepEqual([resting.status, resting.orderType, resting.limitPrice], ['accepted', 'limit', 39_450]);
    const stop = order({ side: 'sell', order_type: 'stop', stop_price: 39_431 });
    const stopAck = await broker.submit(stop.intent, stop.clientOrderId);
    assert.deepEqual([stopAck.status, stopAck.orderType, stopAck.stopPrice], ['accepted', 'stop', 39_431]);
    const stopLimit = order({
      side: 'sell',
      order_type: 'stop_limit',
      stop_price: 39_431,
      limit_price: 39_430,
      time_in_force: 'gtc',
    });
    const stopLimitAck = await broker.submit(stopLimit.intent, stopLimit.clientOrderId);
    assert.deepEqual(
      [stopLimitAck.orderType, stopLimitAck.stopPrice, stopLimitAck.limitPrice],
      ['stop_limit', 39_431, 39_430],
    );
    const ioc = order({ order_type: 'limit', limit_price: 39_400, time_in_force: 'ioc' });
    assert.equal((await broker.submit(ioc.intent, ioc.clientOrderId)).status, 'expired');
    const fok = order({ order_type: 'limit', limit_price: 39_500, time_in_force: 'fok' });
    assert.equal((await broker.submit(fok.intent, fok.clientOrderId)).status, 'filled');

    server.advance(61);
    await until('the limit order filled', () =>
      updatesOf(updates, limit.clientOrderId).some((update) => update.order.status === 'filled'),
    );
    // The resting sell filled in four parts, the sizes of the real trades that reached 39,450.
    const limitFills = fillsOf(updates, limit.clientOrderId);
    assert.deepEqual(
      limitFills.map((fill) => [fill.quantity, fill.price, fill.liquidity]),
      [
        [0.04222, 39_450, 'maker'],
        [0.000004, 39_450, 'maker'],
        [0.000996, 39_450, 'maker'],
        [0.00678, 39_450, 'maker'],
      ],
    );
    assert.deepEqual(
      updatesOf(updates, limit.clientOrderId).map((update) => update.order.status),
      ['accepted', 'partially_filled', 'partially_filled', 'partially_filled', 'filled'],
    );
    // The stop triggered on the first trade at or below 39,431 (index 11, 39,430.63) and sold at it.
    assert.deepEqual(
      fillsOf(updates, stop.clientOrderId).map((fill) => [fill.price, fill.liquidity]),
      [[39_430.63, 'taker']],
    );
    // The stop-limit became a sell limit at 39,430 on the same trade, which reached it.
    assert.deepEqual(
      fillsOf(updates, stopLimit.clientOrderId).map((fill) => [fill.price, fill.liquidity]),
      [[39_430, 'maker']],
    );
    assert.deepEqual(await broker.openOrders(), []);
  });

  it('refuses what the venue cannot take, before sending or as the venue says', async () => {
    const { server, broker } = await setUp();
    const refusals: Array<[Partial<OrderIntent>, string]> = [
      [
        { order_type: 'limit', limit_price: 39_000, time_in_force: 'gtc', bracket: bracketAround(39_000) },
        'unsupported_order_type',
      ],
      [{ order_type: 'limit', limit_price: 39_000, time_in_force: 'day' }, 'unsupported_order_type'],
      [{ quantity: 0.000015 }, 'invalid_quantity'],
      [{ order_type: 'limit', limit_price: 39_000.005, time_in_force: 'gtc' }, 'invalid_price'],
    ];
    /** Submits an order of `fields`, which must be refused for `reason`; returns the refusal. */
    const refusal = async (fields: Partial<OrderIntent>, reason: string): Promise<VenueFault> => {
      const { intent, clientOrderId } = order(fields);
      const fault = await faultOf(broker.submit(intent, clientOrderId));
      assert.deepEqual(
        [fault.kind, fault.details.rejectReason],
        ['rejected', reason],
        JSON.stringify(fields),
      );
      return fault;
    };
    for (const [fields, reason] of refusals) await refusal(fields, reason);
    assert.equal(server.calls.filter((call) => call.method === 'POST').length, 0, 'nothing was sent');

    const venueRefusals: Array<[Partial<OrderIntent>, string, RegExp]> = [
      [{ quantity: 0.0001 }, 'invalid_quantity', /Filter failure: NOTIONAL/],
      [
        { side: 'sell', order_type: 'stop', stop_price: 39_440 },
        'invalid_price',
        /Order would trigger immediately/,
      ],
      [{ quantity: 1 }, 'insufficient_buying_power', /insufficient balance/],
      [{ symbol: 'ADA/BTC', quantity: 100 }, 'market_closed', /Market is closed/],
    ];
    for (const [fields, reason, words] of venueRefusals) {
      assert.match((await refusal(fields, reason)).message, words);
    }
    assert.deepEqual(server.orders(), [], 'no order exists at the venue');
  });

  it('after an answer lost to a timeout, asking by client order id finds the one order; resubmitting places none', async () => {
    const { server, broker } = await setUp({}, { requestTimeoutMs: 500 });
    const { intent, clientOrderId } = order();
    server.delayNextOrderAnswer(1_500);
    const lost = await faultOf(broker.submit(intent, clientOrderId));
    assert.equal(lost.kind, 'unknown_outcome');
    const found = await broker.orderByClientId(clientOrderId);
    assert.equal(found?.status, 'filled');
    const again = await broker.submit(intent, clientOrderId);
    assert.equal(again.venueOrderId, found?.venueOrderId);
    // Binance would take a second order under the id of a filled one: the broker asked first.
    assert.equal(server.orders().filter((entry) => entry.clientOrderId === clientOrderId).length, 1);
    assert.equal(await broker.orderByClientId('sl-not-an-order'), undefined);
  });

  it('a resubmission the venue refuses as a duplicate resolves with the order it has', async () => {
    const { server, broker } = await setUp();
    const { intent, clientOrderId } = order({
      order_type: 'limit',
      limit_price: 39_000,
      time_in_force: 'gtc',
    });
    const first = await broker.submit(intent, clientOrderId);
    // The order is open but its query does not see it yet (Binance: "Memory => Database"): the
    // resubmission reaches the matching engine, which says -2010 "Duplicate order sent.".
    server.answerNextWith(
      'GET',
      '/api/v3/order',
      400,
      JSON.stringify({ code: -2013, msg: 'Order does not exist.' }),
    );
    const again = await broker.submit(intent, clientOrderId);
    assert.equal(again.venueOrderId, first.venueOrderId);
    assert.equal(server.orders().length, 1);
    assert.deepEqual(
      server.calls.filter((call) => call.method === 'POST').map((call) => call.status),
      [200, 400],
    );
  });

  it('a 429 is rate_limited with the Retry-After, and nothing is placed', async () => {
    const { server, broker } = await setUp();
    const { intent, clientOrderId } = order();
    server.rateLimitNext(1, 3, 'POST /api/v3/order');
    const limited = await faultOf(broker.submit(intent, clientOrderId));
    assert.deepEqual([limited.kind, limited.details.retryAfterMs], ['rate_limited', 3_000]);
    assert.deepEqual(server.orders(), []);
    const placed = await broker.submit(intent, clientOrderId);
    assert.equal(placed.status, 'filled');
    assert.equal(server.orders().length, 1);
  });

  it('an execution reported twice arrives twice with one venue fill id', async () => {
    const { server, broker, updates } = await setUp();
    const { intent, clientOrderId } = order({
      side: 'sell',
      quantity: 0.01,
      order_type: 'limit',
      limit_price: 39_450,
      time_in_force: 'gtc',
    });
    await broker.submit(intent, clientOrderId);
    server.duplicateNextReport();
    server.advance(58);
    await until('the duplicated fill', () => fillsOf(updates, clientOrderId).length === 2);
    const [first, second] = fillsOf(updates, clientOrderId);
    assert.deepEqual(first, second);
    const fills = await broker.fillsSince(START);
    assert.deepEqual(
      fills.map((fill) => fill.venueFillId),
      [first?.venueFillId],
    );
  });

  it('after the stream drops, it reconnects and fillsSince covers the fills it missed', async () => {
    const { server, broker, updates, states } = await setUp();
    const { intent, clientOrderId } = order({
      side: 'sell',
      quantity: 0.05,
      order_type: 'limit',
      limit_price: 39_450,
      time_in_force: 'gtc',
    });
    const ack = await broker.submit(intent, clientOrderId);
    server.dropUserStreams(true);
    await until('disconnected', () => states.at(-1) === 'disconnected');
    server.advance(61);
    assert.deepEqual(fillsOf(updates, clientOrderId), [], 'the stream was down');
    server.allowUserStreams();
    await until('reconnected', () => states.at(-1) === 'connected', 10_000);
    assert.deepEqual(states, ['connected', 'disconnected', 'connected']);
    const missed = await broker.fillsSince(ack.updatedAt);
    assert.equal(missed.length, 4);
    assert.ok(
      missed.every((fill) => fill.clientOrderId === clientOrderId && fill.venueOrderId === ack.venueOrderId),
    );
    close(sum(missed.map((fill) => fill.quantity)), 0.05, 'filled quantity');
    assert.equal((await broker.orderByClientId(clientOrderId))?.status, 'filled');
    // The reopened stream carries updates again.
    const next = order();
    await broker.submit(next.intent, next.clientOrderId);
    await until('updates on the new stream', () => fillsOf(updates, next.clientOrderId).length === 1);
  });

  it('positions are base balances: after partial fills, the filled quantity less the commission', async () => {
    const { server, broker, updates } = await setUp({ balances: { USDT: '20000', BTC: '0' } });
    // Every configured market, an empty balance too, marked as a balance for reconciliation.
    assert.deepEqual(await broker.positions(), [
      { symbol: 'BTC/USDT', quantity: 0, averagePrice: 0, balance: true },
    ]);
    const { intent, clientOrderId } = order({
      quantity: 0.3,
      order_type: 'limit',
      limit_price: 39_431,
      time_in_force: 'gtc',
    });
    await broker.submit(intent, clientOrderId);
    // Trades 11 and 12 reach 39,431 with 0.021707 and 0.268133 BTC.
    server.advance(12);
    await until('partial fills', () => fillsOf(updates, clientOrderId).length === 2);
    const filled = sum(fillsOf(updates, clientOrderId).map((fill) => fill.quantity));
    close(filled, 0.28984, 'filled');
    const [position] = await broker.positions();
    assert.equal(position?.symbol, 'BTC/USDT');
    // A buy's commission (0.1%, to 8 decimals) comes out of the BTC bought; the fill prices it in USDT.
    const commission = sum(fillsOf(updates, clientOrderId).map((fill) => fill.fee / fill.price));
    close(commission, 0.0000217 + 0.00026813, 'commission in BTC');
    close(
      sum(fillsOf(updates, clientOrderId).map((fill) => fill.baseCommission ?? 0)),
      commission,
      'baseCommission',
    );
    // Looked up by the order's venue id (myTrades?orderId=…), no time given: the fills the stream
    // reported, under the order's client id.
    const reported = fillsOf(updates, clientOrderId);
    const ofOrder = await broker.fillsOfOrder?.('BTC/USDT', reported[0]?.venueOrderId ?? '');
    assert.deepEqual(
      ofOrder?.map((fill) => [fill.venueFillId, fill.quantity, fill.clientOrderId]),
      reported.map((fill) => [fill.venueFillId, fill.quantity, clientOrderId]),
    );
    close(position?.quantity ?? 0, filled - commission, 'BTC held');
    assert.equal(position?.quantity, Number(server.balance('BTC').free));
    // The rest of the order still holds its cost in USDT.
    close(Number(server.balance('USDT').locked), (0.3 - filled) * 39_431, 'USDT locked');
    const [open] = await broker.openOrders();
    assert.deepEqual([open?.status, open?.filledQuantity], ['partially_filled', filled]);
  });

  it('a cancel that loses the race to a fill resolves with the filled order; an unknown order is not_found', async () => {
    const { server, broker } = await setUp();
    const { intent, clientOrderId } = order({
      side: 'sell',
      quantity: 0.01,
      order_type: 'limit',
      limit_price: 39_450,
      time_in_force: 'gtc',
    });
    const ack = await broker.submit(intent, clientOrderId);
    server.fillBeforeNextCancel();
    const after = await broker.cancel(clientOrderId, ack.venueOrderId);
    assert.deepEqual([after?.status, after?.filledQuantity], ['filled', 0.01]);
    const other = order({ order_type: 'limit', limit_price: 39_000, time_in_force: 'gtc' });
    await broker.submit(other.intent, other.clientOrderId);
    const canceled = await broker.cancel(other.clientOrderId, undefined);
    assert.deepEqual([canceled?.status, canceled?.clientOrderId], ['canceled', other.clientOrderId]);
    assert.equal((await faultOf(broker.cancel('sl-not-an-order', undefined))).kind, 'not_found');
  });

  it('an order placed by hand shows in the updates and the open orders', async () => {
    const { server, broker, updates } = await setUp();
    const manual = server.placeByHand({
      side: 'BUY',
      type: 'LIMIT',
      quantity: '0.001',
      price: '39000.00',
      timeInForce: 'GTC',
    });
    assert.match(manual.clientOrderId, /^web_/);
    await until('its update', () => updatesOf(updates, manual.clientOrderId).length === 1);
    const open = await broker.openOrders();
    assert.deepEqual(
      open.map((entry) => [entry.clientOrderId, entry.venueOrderId, entry.limitPrice]),
      [[manual.clientOrderId, String(manual.orderId), 39_000]],
    );
    assert.equal((await broker.orderByClientId(manual.clientOrderId))?.status, 'accepted');
  });

  it('hostile answers and frames become faults or a resync, never a crash', async () => {
    const { server, broker, updates, states } = await setUp();
    // An order answer that is not JSON: the order was placed, the outcome is unknown to the client.
    const html = order();
    server.answerNextWith('POST', '/api/v3/order', 200, '<html><body>502 Bad Gateway</body></html>');
    assert.equal((await faultOf(broker.submit(html.intent, html.clientOrderId))).kind, 'unknown_outcome');
    assert.equal((await broker.orderByClientId(html.clientOrderId))?.status, 'filled');
    // A 5xx after the order reached the venue: Binance says the execution status is unknown.
    const overloaded = order();
    server.answerNextWith('POST', '/api/v3/order', 503, 'Service Unavailable');
    assert.equal(
      (await faultOf(broker.submit(overloaded.intent, overloaded.clientOrderId))).kind,
      'unknown_outcome',
    );
    // JSON of the wrong shape.
    const strange = order();
    server.answerNextWith(
      'POST',
      '/api/v3/order',
      200,
      JSON.stringify({ symbol: 'BTCUSDT', orderId: 'x', origQty: '-1' }),
    );
    assert.equal(
      (await faultOf(broker.submit(strange.intent, strange.clientOrderId))).kind,
      'unknown_outcome',
    );
    // Reads that come back unreadable fail as unavailable instead of reporting something false.
    const bogusOrder = {
      symbol: 'BTCUSDT',
      orderId: 1,
      clientOrderId: 'x',
      price: '1',
      origQty: '-5',
      executedQty: '0',
      status: 'NEW',
      type: 'LIMIT',
      side: 'BUY',
      time: START,
    };
    server.answerNextWith('GET', '/api/v3/openOrders', 200, JSON.stringify([bogusOrder]));
    assert.equal((await faultOf(broker.openOrders())).kind, 'unavailable');
    server.answerNextWith(
      'GET',
      '/api/v3/openOrders',
      200,
      JSON.stringify([{ ...bogusOrder, origQty: '1', status: 'WEIRD' }]),
    );
    assert.equal((await faultOf(broker.openOrders())).kind, 'unavailable');
    server.answerNextWith(
      'GET',
      '/api/v3/account',
      200,
      JSON.stringify({ balances: [{ asset: 'BTC', free: 'lots', locked: '0' }] }),
    );
    assert.equal((await faultOf(broker.positions())).kind, 'unavailable');
    // Both the first-trade probe and the page read from it.
    const priceless = JSON.stringify([{ symbol: 'BTCUSDT', id: 5, orderId: 1, time: START }]);
    server.answerNextWith('GET', '/api/v3/myTrades', 200, priceless);
    server.answerNextWith('GET', '/api/v3/myTrades', 200, priceless);
    assert.equal((await faultOf(broker.fillsSince(START))).kind, 'unavailable');
    server.answerNextWith('GET', '/api/v3/openOrders', 200, 'not json at all');
    assert.equal((await faultOf(broker.openOrders())).kind, 'unavailable');

    // Stream frames that cannot be read: the broker drops the stream and reopens it (the actor then
    // reconciles), delivering nothing false.
    const before = updates.length;
    server.injectUserFrame('this is not JSON');
    await until('a resync after text', () => states.length === 3, 10_000);
    server.injectUserFrame(
      server.userEvent({
        e: 'executionReport',
        s: 'BTCUSDT',
        i: 1,
        c: 'x',
        S: 'BUY',
        o: 'LIMIT',
        X: 'WEIRD',
        q: '-1',
      }),
    );
    await until('a resync after a bogus report', () => states.length === 5, 10_000);
    server.injectUserFrame(server.userEvent({ e: 'outboundAccountPosition', B: 'not a list' }));
    server.injectUserFrame({ unexpected: ['shape'] });
    assert.equal(updates.length, before, 'nothing false was delivered');
    assert.deepEqual(states, ['connected', 'disconnected', 'connected', 'disconnected', 'connected']);
    const next = order();
    await broker.submit(next.intent, next.clientOrderId);
    await until('updates after the resyncs', () => fillsOf(updates, next.clientOrderId).length === 1);
    assert.deepEqual(unhandled, []);
  });

  it('a venue that is gone is unavailable (nothing can have been placed)', async () => {
    const { server, broker } = await setUp();
    await server.close();
    const { intent, clientOrderId } = order();
    assert.equal((await faultOf(broker.submit(intent, clientOrderId))).kind, 'unavailable');
    assert.equal((await faultOf(broker.openOrders())).kind, 'unavailable');
  });
});

function bracketAround(price: number): NonNullable<OrderIntent['bracket']> {
  return { take_profit: { limit_price: price * 1.01 }, stop_loss: { stop_price: price * 0.99 } };
}
