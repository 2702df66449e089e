// The Alpaca broker (actors/execution/brokers/alpaca.ts) and Alpaca's real SDK against the loopback
// Alpaca trading server (a test fixture that speaks Alpaca's Trading API v2 and its trade_updates
// stream, keeps real account state and fills from real SPY minute bars): every order type and a
// bracket, idempotent resubmission after a lost acknowledgement, typed faults (reject, 429, timeout,
// unavailable, credentials), a fill reported twice, a dropped stream and the gap read back, partial
// fills, a cancel racing a fill, an order placed by hand, and hostile answers on REST and the stream.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { pino } from 'pino';
import { VenueFault, type VenueUpdate } from '../../actors/execution/broker-adapter.ts';
import {
  type AlpacaBroker,
  type AlpacaBrokerOptions,
  createAlpacaBroker,
} from '../../actors/execution/brokers/alpaca.ts';
import { ReplayClock } from '../../core/clock.ts';
import type { OrderIntent } from '../../schemas/messages.ts';
import { type AlpacaBarItem, alpacaBar, readSpyBars } from '../support/loopback/alpaca.ts';
import {
  type AlpacaTradingLoopback,
  startAlpacaTradingLoopback,
} from '../support/loopback/alpaca-trading.ts';
import { clientOrderIdOf, orderIntent } from '../support/orders.ts';
import { until } from '../support/wait.ts';

const KEY = 'PKLOOPBACKTRADING';
const SECRET = 'loopback-trading-secret';

type IntentFields = Pick<OrderIntent, 'side' | 'quantity' | 'order_type'> & Partial<OrderIntent>;

let intents = 0;
function intent(fields: IntentFields): OrderIntent {
  intents++;
  return orderIntent(`sig:test:${intents}`, fields);
}

async function fault(promise: Promise<unknown>): Promise<VenueFault> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof VenueFault, `expected a VenueFault, got ${inspect(error)}`);
    return error;
  }
  assert.fail('expected a VenueFault');
}

interface Session {
  readonly venue: AlpacaTradingLoopback;
  readonly broker: AlpacaBroker;
  readonly updates: VenueUpdate[];
  readonly states: string[];
  readonly logs: { msg: string; reason?: string }[];
  /** Index of the bar the venue's playhead is on. */
  bar: number;
  step(bars?: number): void;
}

describe('Alpaca broker against the loopback Alpaca trading server', () => {
  let bars: AlpacaBarItem[];
  const sessions: Session[] = [];

  before(async () => {
    bars = (await readSpyBars(800)).map(alpacaBar);
  });

  after(async () => {
    for (const { broker, venue } of sessions) {
      await broker.close();
      await venue.close();
    }
  });

  async function session(options: Partial<AlpacaBrokerOptions> = {}, connect = true): Promise<Session> {
    const venue = await startAlpacaTradingLoopback({ keyId: KEY, secretKey: SECRET, bars: { SPY: bars } });
    const logs: Session['logs'] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
          done();
        },
      }),
    );
    const broker = createAlpacaBroker({
      keyId: KEY,
      secretKey: SECRET,
      paper: true,
      baseUrl: venue.baseUrl,
      streamUrl: venue.streamUrl,
      requestTimeoutMs: 2_000,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      pingIntervalMs: 0,
      logger,
      ...options,
    });
    const updates: VenueUpdate[] = [];
    const states: string[] = [];
    broker.onUpdate((update) => updates.push(update));
    broker.onConnection((state) => states.push(state));
    const created: Session = {
      venue,
      broker,
      updates,
      states,
      logs,
      bar: 0,
      step(count = 1) {
        venue.step(count);
        created.bar += count;
      },
    };
    sessions.push(created);
    if (connect) await broker.connect();
    return created;
  }

  /** The first bar after the playhead meeting `condition`, and its index. */
  function nextBar(
    from: number,
    condition: (bar: AlpacaBarItem) => boolean,
  ): { bar: AlpacaBarItem; index: number } {
    for (let index = from + 1; index < bars.length; index++) {
      const bar = bars[index] as AlpacaBarItem;
      if (condition(bar)) return { bar, index };
    }
    throw new Error('no such bar in the data');
  }

  /** Steps the venue bar by bar until the order is no longer working (at most `limit` bars). */
  async function stepUntilDone(s: Session, clientOrderId: string, limit = 400): Promise<void> {
    for (let n = 0; n < limit; n++) {
      const order = await s.broker.orderByClientId(clientOrderId);
      if (order && ['filled', 'canceled', 'expired', 'rejected'].includes(order.status)) return;
      s.step();
    }
    assert.fail(`order ${clientOrderId} still working after ${limit} bars`);
  }

  const fillsOf = (s: Session, venueOrderId: string) =>
    s.updates.filter((update) => update.fill && update.order.venueOrderId === venueOrderId);

  it('names its venue and account mode; refuses bad credentials as unauthorised', async () => {
    const s = await session({}, false);
    assert.equal(s.broker.venue, 'alpaca');
    assert.equal(s.broker.accountMode, 'paper');
    const live = createAlpacaBroker({
      keyId: KEY,
      secretKey: SECRET,
      paper: false,
      baseUrl: s.venue.baseUrl,
    });
    assert.equal(live.accountMode, 'live');
    const refused = createAlpacaBroker({
      keyId: KEY,
      secretKey: 'wrong',
      paper: true,
      baseUrl: s.venue.baseUrl,
      streamUrl: s.venue.streamUrl,
    });
    const denied = await fault(refused.connect());
    assert.equal(denied.kind, 'unauthorised');
    assert.equal(denied.details.status, 401);
    // Credentials, even in an error, never print.
    assert.ok(!inspect(refused).includes(SECRET) && !inspect(s.broker).includes(SECRET));
    await refused.close();
  });

  it("instrument rules from the assets API: an equity in whole shares, a crypto pair's increments, unknown left out", async () => {
    const venue = await startAlpacaTradingLoopback({
      keyId: KEY,
      secretKey: SECRET,
      bars: { SPY: bars },
      assets: {
        'BTC/USD': {
          class: 'crypto',
          exchange: 'CRYPTO',
          status: 'active',
          tradable: true,
          fractionable: true,
          min_order_size: '0.000018',
          min_trade_increment: '0.000000001',
          price_increment: '1',
        },
      },
    });
    const broker = createAlpacaBroker({
      keyId: KEY,
      secretKey: SECRET,
      paper: true,
      baseUrl: venue.baseUrl,
      streamUrl: venue.streamUrl,
      requestTimeoutMs: 2_000,
    });
    sessions.push({ venue, broker, updates: [], states: [], logs: [], bar: 0, step: () => undefined });
    // Before connect(): the run reads them first.
    assert.deepEqual(await broker.venueRules(['SPY', 'BTC/USD', 'NOPE']), {
      SPY: { lotSize: 1 },
      'BTC/USD': { lotSize: 0.000000001, minQuantity: 0.000018, tickSize: 1 },
    });
    assert.deepEqual(
      venue.requests.filter((r) => r.path.startsWith('/v2/assets/')).map((r) => r.path),
      ['/v2/assets/SPY', '/v2/assets/BTC/USD', '/v2/assets/NOPE'],
    );
  });

  it('market order: acknowledged, filled at the last close, streamed, read back as position and fill', async () => {
    const s = await session();
    const order = intent({ side: 'buy', quantity: 10, order_type: 'market' });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    assert.equal(ack.clientOrderId, clientOrderIdOf(order));
    assert.equal(ack.status, 'accepted');
    assert.equal(ack.quantity, 10);
    assert.equal(ack.updatedAt, s.venue.now(), 'venue time, not the wall clock');
    await until('the fill on the stream', () => fillsOf(s, ack.venueOrderId).length === 1);
    const [update] = fillsOf(s, ack.venueOrderId);
    const lastClose = (bars[0] as AlpacaBarItem).c;
    assert.equal(update?.fill?.price, lastClose);
    assert.equal(update?.fill?.quantity, 10);
    assert.equal(update?.fill?.ts, s.venue.now());
    assert.equal(update?.order.status, 'filled');
    assert.deepEqual(await s.broker.positions(), [{ symbol: 'SPY', quantity: 10, averagePrice: lastClose }]);
    const fills = await s.broker.fillsSince(0);
    assert.equal(fills.length, 1);
    // The same execution from the stream and from the activities keeps one id.
    assert.equal(fills[0]?.venueFillId, update?.fill?.venueFillId);
    assert.equal(fills[0]?.clientOrderId, clientOrderIdOf(order));
    assert.equal((await s.broker.fillsSince(s.venue.now() + 1)).length, 0);
    assert.deepEqual(await s.broker.openOrders(), []);
  });

  it('limit, stop and stop-limit orders rest, then fill on the recorded bar that reaches them', async () => {
    const s = await session();
    const last = (bars[0] as AlpacaBarItem).c;
    // A buy limit under the market: fills on the first bar whose low reaches it, at min(open, limit).
    const limitPrice = Math.min(...bars.slice(1, 120).map((bar) => bar.l));
    assert.ok(limitPrice < last);
    const limit = intent({ side: 'buy', quantity: 5, order_type: 'limit', limit_price: limitPrice });
    // A buy stop over the market: triggers on the first bar whose high reaches it, at max(open, stop).
    const stopPrice = Math.round((last + 0.2) * 100) / 100;
    const stop = intent({
      side: 'buy',
      quantity: 4,
      order_type: 'stop',
      stop_price: stopPrice,
      time_in_force: 'gtc',
    });
    // A sell stop-limit: triggers when the low reaches its stop, fills if the bar reaches its limit.
    const stopLimit = intent({
      side: 'sell',
      quantity: 3,
      order_type: 'stop_limit',
      stop_price: limitPrice,
      limit_price: Math.round((limitPrice - 0.05) * 100) / 100,
    });
    const acks = [];
    for (const order of [limit, stop, stopLimit])
      acks.push(await s.broker.submit(order, clientOrderIdOf(order)));
    assert.deepEqual(
      acks.map((ack) => [ack.orderType, ack.limitPrice, ack.stopPrice]),
      [
        ['limit', limitPrice, undefined],
        ['stop', undefined, stopPrice],
        ['stop_limit', stopLimit.limit_price, limitPrice],
      ],
    );
    assert.deepEqual(
      (await s.broker.openOrders()).map((order) => order.clientOrderId).sort(),
      [limit, stop, stopLimit].map(clientOrderIdOf).sort(),
    );
    const limitBar = nextBar(0, (bar) => bar.l <= limitPrice);
    const stopBar = nextBar(0, (bar) => bar.h >= stopPrice);
    await stepUntilDone(s, clientOrderIdOf(limit));
    await stepUntilDone(s, clientOrderIdOf(stop));
    const limitFill = (await s.broker.orderByClientId(clientOrderIdOf(limit)))!;
    assert.equal(limitFill.status, 'filled');
    assert.equal(limitFill.averageFillPrice, Math.min(limitBar.bar.o, limitPrice));
    const stopFill = (await s.broker.orderByClientId(clientOrderIdOf(stop)))!;
    assert.equal(stopFill.averageFillPrice, Math.max(stopBar.bar.o, stopPrice));
    const fills = await s.broker.fillsSince(0);
    const limitTime = Date.parse(limitBar.bar.t) + 60_000;
    assert.equal(fills.find((fill) => fill.clientOrderId === clientOrderIdOf(limit))?.ts, limitTime);
    // Oldest first.
    assert.deepEqual(
      fills.map((fill) => fill.ts),
      [...fills.map((fill) => fill.ts)].sort((a, b) => a - b),
    );
  });

  it('ioc and fok: what cannot fill at once is canceled', async () => {
    const s = await session();
    s.venue.capFillPerMatch(4);
    const ioc = intent({ side: 'buy', quantity: 10, order_type: 'market', time_in_force: 'ioc' });
    const fok = intent({ side: 'buy', quantity: 10, order_type: 'market', time_in_force: 'fok' });
    await s.broker.submit(ioc, clientOrderIdOf(ioc));
    await s.broker.submit(fok, clientOrderIdOf(fok));
    const iocState = (await s.broker.orderByClientId(clientOrderIdOf(ioc)))!;
    assert.equal(iocState.status, 'canceled');
    assert.equal(iocState.filledQuantity, 4);
    const fokState = (await s.broker.orderByClientId(clientOrderIdOf(fok)))!;
    assert.equal(fokState.status, 'canceled');
    assert.equal(fokState.filledQuantity, 0);
    assert.deepEqual(await s.broker.positions(), [
      { symbol: 'SPY', quantity: 4, averagePrice: (bars[0] as AlpacaBarItem).c },
    ]);
  });

  it('bracket: legs held until the entry fills, the stop-loss triggers, the take-profit is canceled', async () => {
    const s = await session();
    const entry = (bars[0] as AlpacaBarItem).c;
    const stopLoss = Math.round((entry - 0.05) * 100) / 100;
    const takeProfit = Math.round((entry + 5) * 100) / 100;
    const order = intent({
      side: 'buy',
      quantity: 6,
      order_type: 'market',
      time_in_force: 'gtc',
      bracket: { take_profit: { limit_price: takeProfit }, stop_loss: { stop_price: stopLoss } },
    });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    assert.equal(ack.legs.length, 2);
    assert.deepEqual(ack.legs.map((leg) => [leg.orderType, leg.side, leg.status]).sort(), [
      ['limit', 'sell', 'accepted'],
      ['stop', 'sell', 'accepted'],
    ]);
    const [stopLeg, takeProfitLeg] = [
      ack.legs.find((leg) => leg.orderType === 'stop')!,
      ack.legs.find((leg) => leg.orderType === 'limit')!,
    ];
    assert.equal(stopLeg.stopPrice, stopLoss);
    assert.equal(takeProfitLeg.limitPrice, takeProfit);
    // The by-client-id answer leaves legs out; the broker asks for them.
    const found = (await s.broker.orderByClientId(clientOrderIdOf(order)))!;
    assert.deepEqual(
      found.legs.map((leg) => leg.venueOrderId).sort(),
      ack.legs.map((leg) => leg.venueOrderId).sort(),
    );
    const stopBar = nextBar(0, (bar) => bar.l <= stopLoss);
    assert.ok(!bars.slice(1, stopBar.index + 1).some((bar) => bar.h >= takeProfit));
    for (let n = 0; n < stopBar.index; n++) s.step();
    await until('the stop-loss fill on the stream', () => fillsOf(s, stopLeg.venueOrderId).length === 1);
    const final = (await s.broker.orderByClientId(clientOrderIdOf(order)))!;
    const legStatus = Object.fromEntries(final.legs.map((leg) => [leg.orderType, leg.status]));
    assert.deepEqual(legStatus, { stop: 'filled', limit: 'canceled' });
    assert.equal(final.status, 'filled');
    assert.equal(fillsOf(s, stopLeg.venueOrderId)[0]?.fill?.price, Math.min(stopBar.bar.o, stopLoss));
    assert.deepEqual(await s.broker.positions(), []);
    await until('the take-profit cancel on the stream', () =>
      s.updates.some(
        (u) => u.order.venueOrderId === takeProfitLeg.venueOrderId && u.order.status === 'canceled',
      ),
    );
    assert.deepEqual(await s.broker.openOrders(), []);
  });

  it('a lost acknowledgement is unknown_outcome; the resubmission finds the order, never a second', async () => {
    const s = await session({ requestTimeoutMs: 300 });
    const order = intent({ side: 'buy', quantity: 2, order_type: 'limit', limit_price: 100 });
    s.venue.holdNextOrderAnswer(2_000);
    const lost = await fault(s.broker.submit(order, clientOrderIdOf(order)));
    assert.equal(lost.kind, 'unknown_outcome');
    const existing = await s.broker.orderByClientId(clientOrderIdOf(order));
    assert.ok(existing, 'the venue placed it');
    const again = await s.broker.submit(order, clientOrderIdOf(order));
    assert.equal(again.venueOrderId, existing.venueOrderId);
    assert.equal(s.venue.orders().filter((o) => o.client_order_id === clientOrderIdOf(order)).length, 1);
    // A client order id that names another order is a reject, not that order.
    const other = intent({ side: 'sell', quantity: 2, order_type: 'market' });
    const clash = await fault(s.broker.submit(other, clientOrderIdOf(order)));
    assert.equal(clash.kind, 'rejected');
    assert.equal(clash.details.rejectReason, 'duplicate_client_order_id');
  });

  it('429 is rate_limited with the wait the headers ask for, and places nothing', async () => {
    const clock = new ReplayClock(Date.parse('2026-03-02T15:00:00Z'));
    const s = await session({ clock });
    const order = intent({ side: 'buy', quantity: 1, order_type: 'market' });
    s.venue.rateLimitNext(1, { retryAfterS: 2 });
    const limited = await fault(s.broker.submit(order, clientOrderIdOf(order)));
    assert.equal(limited.kind, 'rate_limited');
    assert.equal(limited.details.retryAfterMs, 2_000);
    s.venue.rateLimitNext(1, { resetAtS: clock.now() / 1000 + 7 });
    const byReset = await fault(s.broker.submit(order, clientOrderIdOf(order)));
    assert.equal(byReset.details.retryAfterMs, 7_000);
    assert.equal(s.venue.orders().length, 0);
    const placed = await s.broker.submit(order, clientOrderIdOf(order));
    assert.equal(placed.clientOrderId, clientOrderIdOf(order));
    assert.equal(s.venue.orders().length, 1);
  });

  it('rejects are typed with their reason and place nothing', async () => {
    const s = await session();
    const cases: [IntentFields, string][] = [
      [{ side: 'buy', quantity: 10_000, order_type: 'market' }, 'insufficient_buying_power'],
      [{ side: 'buy', quantity: 1, order_type: 'limit', limit_price: 126.123 }, 'invalid_price'],
      [{ side: 'buy', quantity: 1.5, order_type: 'stop', stop_price: 130 }, 'invalid_quantity'],
      [
        {
          side: 'buy',
          quantity: 1,
          order_type: 'market',
          time_in_force: 'ioc',
          bracket: { take_profit: { limit_price: 140 }, stop_loss: { stop_price: 120 } },
        },
        'unsupported_order_type',
      ],
    ];
    for (const [fields, reason] of cases) {
      const order = intent(fields);
      const rejected = await fault(s.broker.submit(order, clientOrderIdOf(order)));
      assert.equal(rejected.kind, 'rejected', rejected.message);
      assert.equal(rejected.details.rejectReason, reason, rejected.message);
    }
    // An injected reject on an order the account could afford.
    const affordable = intent({ side: 'buy', quantity: 1, order_type: 'market' });
    s.venue.rejectNextOrder();
    const rejected = await fault(s.broker.submit(affordable, clientOrderIdOf(affordable)));
    assert.equal(rejected.details.rejectReason, 'insufficient_buying_power');
    assert.equal(rejected.details.status, 403);
    assert.equal(s.venue.orders().length, 0);
  });

  it('a fill the stream reports twice arrives twice with one venueFillId, and is one fill at the venue', async () => {
    const s = await session();
    s.venue.duplicateNextFill();
    const order = intent({ side: 'buy', quantity: 3, order_type: 'market' });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    await until('both copies', () => fillsOf(s, ack.venueOrderId).length === 2);
    const [first, second] = fillsOf(s, ack.venueOrderId);
    assert.deepEqual(first?.fill, second?.fill);
    assert.equal((await s.broker.fillsSince(0)).length, 1);
  });

  it('a dropped stream reports disconnected, reconnects with backoff, and fillsSince covers the gap', async () => {
    const s = await session();
    assert.deepEqual(s.states, ['connected']);
    const since = s.venue.now();
    const limitPrice = Math.min(...bars.slice(1, 60).map((bar) => bar.l));
    const order = intent({ side: 'buy', quantity: 5, order_type: 'limit', limit_price: limitPrice });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    s.venue.refuseStream(true);
    s.venue.dropStream();
    await until('disconnected', () => s.states.length === 2);
    assert.equal(s.states[1], 'disconnected');
    // The market moves on while the stream is down: the order fills, and nobody hears it.
    const fillBar = nextBar(0, (bar) => bar.l <= limitPrice);
    s.step(fillBar.index);
    assert.equal(fillsOf(s, ack.venueOrderId).length, 0);
    s.venue.refuseStream(false);
    await until('connected again', () => s.states.length === 3);
    assert.deepEqual(s.states, ['connected', 'disconnected', 'connected']);
    const gap = await s.broker.fillsSince(since);
    assert.equal(gap.length, 1);
    assert.equal(gap[0]?.clientOrderId, clientOrderIdOf(order));
    assert.equal(gap[0]?.ts, Date.parse(fillBar.bar.t) + 60_000);
    // Live again: the next order's updates arrive.
    const next = intent({ side: 'sell', quantity: 5, order_type: 'market' });
    const nextAck = await s.broker.submit(next, clientOrderIdOf(next));
    await until('updates after the reconnect', () => fillsOf(s, nextAck.venueOrderId).length === 1);
  });

  it('partial fills: each execution streamed and listed once, position and average price add up', async () => {
    const s = await session();
    s.venue.capFillPerMatch(3);
    const order = intent({ side: 'buy', quantity: 10, order_type: 'market' });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    s.step(3);
    await until('four executions', () => fillsOf(s, ack.venueOrderId).length === 4);
    const streamed = fillsOf(s, ack.venueOrderId);
    assert.deepEqual(
      streamed.map((u) => [u.fill?.quantity, u.order.status]),
      [
        [3, 'partially_filled'],
        [3, 'partially_filled'],
        [3, 'partially_filled'],
        [1, 'filled'],
      ],
    );
    const expectedPrices = [(bars[0] as AlpacaBarItem).c, ...bars.slice(1, 4).map((bar) => bar.o)];
    assert.deepEqual(
      streamed.map((u) => u.fill?.price),
      expectedPrices,
    );
    const fills = await s.broker.fillsSince(0);
    assert.deepEqual(
      fills.map((fill) => fill.venueFillId),
      streamed.map((u) => u.fill?.venueFillId),
    );
    const value = [3, 3, 3, 1].reduce((sum, qty, index) => sum + qty * (expectedPrices[index] as number), 0);
    const [position] = await s.broker.positions();
    assert.equal(position?.quantity, 10);
    assert.ok(Math.abs((position?.averagePrice ?? 0) - value / 10) < 1e-6);
    const final = (await s.broker.orderByClientId(clientOrderIdOf(order)))!;
    assert.ok(Math.abs((final.averageFillPrice ?? 0) - value / 10) < 1e-6);
  });

  it('cancel: a resting order is canceled; a cancel that a fill beats resolves filled; unknown ids are undefined', async () => {
    const s = await session();
    const resting = intent({ side: 'buy', quantity: 2, order_type: 'limit', limit_price: 100 });
    const ack = await s.broker.submit(resting, clientOrderIdOf(resting));
    const canceled = await s.broker.cancel(clientOrderIdOf(resting), ack.venueOrderId);
    assert.equal(canceled?.status, 'canceled');
    const racing = intent({ side: 'buy', quantity: 2, order_type: 'limit', limit_price: 100 });
    await s.broker.submit(racing, clientOrderIdOf(racing));
    s.venue.raceNextCancelWithFill();
    // No venue order id: the broker finds it by client order id first.
    const raced = await s.broker.cancel(clientOrderIdOf(racing), undefined);
    assert.equal(raced?.status, 'filled');
    assert.equal(raced?.filledQuantity, 2);
    // Already filled: the venue answers 422, the broker reports the order's state.
    assert.equal((await s.broker.cancel(clientOrderIdOf(racing), raced?.venueOrderId))?.status, 'filled');
    assert.equal(await s.broker.cancel('sl-unknown', undefined), undefined);
    assert.equal(await s.broker.cancel('sl-unknown', '00000000-0000-4000-a000-000000000000'), undefined);
    assert.equal((await s.broker.fillsSince(0)).length, 1);
  });

  it('an order placed by hand at the venue shows in open orders and on the stream', async () => {
    const s = await session();
    const placed = s.venue.placeByHand({
      symbol: 'SPY',
      side: 'sell',
      qty: 7,
      type: 'limit',
      limitPrice: 150,
    });
    const open = await s.broker.openOrders();
    assert.equal(open.length, 1);
    assert.equal(open[0]?.venueOrderId, placed.id);
    assert.ok(!open[0]?.clientOrderId?.startsWith('sl-'));
    assert.equal(open[0]?.quantity, 7);
    await until('its update', () => s.updates.some((u) => u.order.venueOrderId === placed.id));
  });

  it('hostile REST answers become VenueFaults, never a crash', async () => {
    const s = await session({ maxResponseBytes: 1024 * 1024 });
    const order = intent({ side: 'buy', quantity: 1, order_type: 'market' });
    s.venue.answerNextWith({ status: 200, body: '{"id": "x", "status": ' });
    const malformedSubmit = await fault(s.broker.submit(order, clientOrderIdOf(order)));
    assert.equal(malformedSubmit.kind, 'unknown_outcome');
    assert.match(malformedSubmit.message, /malformed/);
    s.venue.answerNextWith({ status: 200, body: '[{"symbol": "SPY", "qty": "ten"}]' });
    const badPosition = await fault(s.broker.positions());
    assert.equal(badPosition.kind, 'unavailable');
    assert.match(badPosition.message, /qty is not a number/);
    const known = s.venue.placeByHand({ symbol: 'SPY', side: 'buy', qty: 1, type: 'limit', limitPrice: 100 });
    s.venue.answerNextWith({ status: 200, body: JSON.stringify({ ...known, status: 'teleported' }) });
    const unknownStatus = await fault(s.broker.orderByClientId(String(known.client_order_id)));
    assert.match(unknownStatus.message, /status is unknown: teleported/);
    s.venue.answerNextWith({ status: 200, body: Buffer.alloc(3 * 1024 * 1024, 0x20) });
    const oversized = await fault(s.broker.openOrders());
    assert.match(oversized.message, /over the 1048576-byte limit/);
    s.venue.answerNextWith({ status: 200, body: '' });
    assert.equal((await fault(s.broker.positions())).kind, 'unavailable');
    s.venue.answerNextWith({ status: 503, body: '<html>down</html>' });
    const down = await fault(s.broker.openOrders());
    assert.equal(down.kind, 'unavailable');
    assert.equal(down.details.status, 503);
    s.venue.rejectCredentials(true);
    assert.equal((await fault(s.broker.positions())).kind, 'unauthorised');
    s.venue.rejectCredentials(false);
    // Still working after all of it.
    assert.equal((await s.broker.openOrders()).length, 1);
  });

  it('no venue: connection refused is unavailable, nothing happened', async () => {
    const s = await session({}, false);
    await s.venue.close();
    const order = intent({ side: 'buy', quantity: 1, order_type: 'market' });
    const refused = await fault(s.broker.submit(order, clientOrderIdOf(order)));
    assert.equal(refused.kind, 'unavailable', refused.message);
    assert.equal((await fault(s.broker.connect())).kind, 'unavailable');
  });

  it('hostile stream frames are skipped with a logged reason; the stream goes on', async () => {
    const s = await session();
    s.venue.sendOnStream('{"stream": "trade_updates", "data": ');
    s.venue.sendOnStream(JSON.stringify({ stream: 'trade_updates', data: { event: 'fill', order: 'nope' } }));
    const known = s.venue.placeByHand({ symbol: 'SPY', side: 'buy', qty: 1, type: 'limit', limitPrice: 100 });
    s.venue.sendOnStream(
      JSON.stringify({
        stream: 'trade_updates',
        data: { event: 'new', timestamp: '2011-01-03T09:02:00Z', order: { ...known, status: 'teleported' } },
      }),
    );
    s.venue.sendOnStream(
      JSON.stringify({
        stream: 'trade_updates',
        data: {
          event: 'fill',
          execution_id: 'e1',
          timestamp: '2011-01-03T09:02:00Z',
          qty: '-1',
          price: '1',
          order: known,
        },
      }),
    );
    await until('four skips', () => s.broker.skippedUpdates === 4);
    const reasons = s.logs
      .filter((line) => line.msg === 'alpaca: stream message skipped')
      .map((l) => l.reason);
    assert.equal(reasons.length, 4);
    assert.match(reasons[0] ?? '', /failed to decode/);
    assert.match(reasons[1] ?? '', /data.order is not an object/);
    assert.match(reasons[2] ?? '', /status is unknown: teleported/);
    assert.match(reasons[3] ?? '', /data.qty is not positive/);
    assert.equal(s.updates.filter((u) => u.order.status === ('teleported' as never)).length, 0);
    const order = intent({ side: 'buy', quantity: 1, order_type: 'market' });
    const ack = await s.broker.submit(order, clientOrderIdOf(order));
    await until('updates after the hostile frames', () => fillsOf(s, ack.venueOrderId).length === 1);
    assert.deepEqual(s.states, ['connected']);
  });
});
