// Pure parts of execution at a broker: Sluice's reports from what the venue said (venue-reports.ts),
// reconciliation with the venue's books (reconcile.ts), and the live opt-in of the broker registry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VenueFill, VenueOrder } from '../../actors/execution/broker-adapter.ts';
import {
  BROKER_KEY_ID,
  BROKER_LIVE_KEY_ID,
  brokerAccount,
  createLiveBroker,
} from '../../actors/execution/brokers/index.ts';
import { executionVenueName } from '../../actors/execution/config.ts';
import {
  type BookOrder,
  reconcile,
  type SluiceBook,
  type VenueBooks,
} from '../../actors/execution/reconcile.ts';
import {
  fillFromVenue,
  legRef,
  nextStatus,
  type OrderRef,
  orderEventFromVenue,
} from '../../actors/execution/venue-reports.ts';
import { ConfigError } from '../../core/errors.ts';
import { clientOrderIdFor, venueFillIdFor, venueOrderEventIdFor } from '../../core/lineage-ids.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { acceptedVenueOrder } from '../support/orders.ts';

const ref: OrderRef = {
  orderId: 'sig-1:intent:order',
  intentId: 'sig-1:intent',
  symbol: 'AAPL',
  side: 'buy',
  quantity: 100,
};
const stamp = { accountMode: 'paper' as const, receivedAt: 1_700_000_000_500 };

function venueOrder(fields: Partial<VenueOrder> = {}): VenueOrder {
  return acceptedVenueOrder({
    clientOrderId: clientOrderIdFor(ref.orderId),
    venueOrderId: 'v-1',
    updatedAt: 1_700_000_000_000,
    ...fields,
  });
}

function venueFill(fields: Partial<VenueFill> = {}): VenueFill {
  return {
    venueFillId: 'x-1',
    venueOrderId: 'v-1',
    clientOrderId: clientOrderIdFor(ref.orderId),
    symbol: 'AAPL',
    side: 'buy',
    quantity: 40,
    price: 101.25,
    fee: 0.1,
    liquidity: 'taker',
    ts: 1_700_000_000_100,
    ...fields,
  };
}

describe('venue reports', () => {
  it('an order state becomes an order event with an id from its state, the venue’s time and ids, and the account mode', () => {
    const event = orderEventFromVenue(
      ref,
      venueOrder({ status: 'partially_filled', filledQuantity: 40 }),
      stamp,
    );
    assert.deepEqual(event, {
      schema: 'order_event.v1',
      id: venueOrderEventIdFor(ref.orderId, 'partially_filled', 40),
      ts_event: 1_700_000_000_000,
      ts_init: stamp.receivedAt,
      order_id: ref.orderId,
      intent_id: ref.intentId,
      symbol: 'AAPL',
      status: 'partially_filled',
      filled_quantity: 40,
      leaves_quantity: 60,
      account_mode: 'paper',
      venue_order_id: 'v-1',
    });
    assert.equal(validateMessage('order_event', event).ok, true);
    const closed = orderEventFromVenue(
      ref,
      venueOrder({ status: 'canceled', filledQuantity: 40, reason: 'by user' }),
      stamp,
    );
    assert.equal(closed.leaves_quantity, 0);
    assert.equal(closed.reason, 'by user');
  });

  it('a venue execution becomes a fill named by the venue’s execution id; nonsense is refused with the reason', () => {
    const fill = fillFromVenue(ref, venueFill(), stamp);
    assert.ok(typeof fill !== 'string');
    assert.equal(fill.id, venueFillIdFor(ref.orderId, 'x-1'));
    assert.deepEqual(
      [fill.venue_fill_id, fill.venue_order_id, fill.account_mode, fill.ts_event],
      ['x-1', 'v-1', 'paper', 1_700_000_000_100],
    );
    assert.equal(validateMessage('fill', fill).ok, true);
    assert.equal(fillFromVenue(ref, venueFill({ quantity: 0 }), stamp), 'quantity 0');
    assert.equal(fillFromVenue(ref, venueFill({ price: Number.NaN }), stamp), 'price NaN');
    assert.equal(
      fillFromVenue(ref, venueFill({ venueFillId: 'x'.repeat(200) }), stamp),
      `venue fill id "${'x'.repeat(200)}"`,
    );
    const untimed = fillFromVenue(ref, venueFill({ ts: -5 }), stamp);
    assert.ok(
      typeof untimed !== 'string' && untimed.ts_event === stamp.receivedAt,
      'no venue time: when Sluice heard',
    );
  });

  it('the venue’s word is final but never moves an order back', () => {
    assert.equal(nextStatus('submitted', 0, 'accepted', 0), 'accepted');
    assert.equal(
      nextStatus('submitted', 0, 'canceled', 0),
      'canceled',
      'a venue may cancel an order it never acknowledged',
    );
    assert.equal(nextStatus('accepted', 0, 'accepted', 0), undefined, 'the same state twice');
    assert.equal(nextStatus('partially_filled', 40, 'partially_filled', 70), 'partially_filled');
    assert.equal(nextStatus('partially_filled', 40, 'accepted', 40), undefined, 'a late acknowledgement');
    assert.equal(
      nextStatus('partially_filled', 40, 'accepted', 60),
      'partially_filled',
      'a fill beside a late state',
    );
    assert.equal(nextStatus('filled', 100, 'canceled', 100), undefined, 'closed stays closed');
    assert.equal(nextStatus('pending_cancel', 0, 'filled', 100), 'filled', 'a cancel that lost the race');
  });

  it('a bracket’s legs are its take-profit (limit) and stop-loss children', () => {
    assert.equal(
      legRef(ref, venueOrder({ orderType: 'limit', side: 'sell' })).orderId,
      `${ref.orderId}:take_profit`,
    );
    assert.equal(
      legRef(ref, venueOrder({ orderType: 'stop', side: 'sell' })).orderId,
      `${ref.orderId}:stop_loss`,
    );
  });
});

describe('reconcile', () => {
  const own: BookOrder = {
    ...ref,
    clientOrderId: clientOrderIdFor(ref.orderId),
    venueOrderId: 'v-1',
    status: 'accepted',
    filledQuantity: 0,
    venueFillIds: new Set(),
    own: true,
  };
  const book = (fields: Partial<SluiceBook> = {}): SluiceBook => ({
    venue: 'alpaca-paper',
    orders: [own],
    positions: new Map(),
    publishedFillIds: new Set(),
    commissions: new Map(),
    balanceBaselines: new Map(),
    ...fields,
  });
  const venue = (fields: Partial<VenueBooks> = {}): VenueBooks => ({
    openOrders: [venueOrder()],
    positions: [],
    fills: [],
    closed: new Map(),
    readAt: 1_700_000_001_000,
    ...fields,
  });

  it('books that agree: ok, nothing to do', () => {
    const plan = reconcile(book(), venue(), 'halt');
    assert.equal(plan.ok, true);
    assert.deepEqual(plan.differences, []);
  });

  it('a missed fill of its own order is adopted, its state taken, and the positions then agree', () => {
    const plan = reconcile(
      book(),
      venue({
        openOrders: [venueOrder({ status: 'partially_filled', filledQuantity: 40 })],
        fills: [venueFill()],
        positions: [{ symbol: 'AAPL', quantity: 40, averagePrice: 101.25 }],
      }),
      'halt',
    );
    assert.equal(plan.ok, true);
    assert.deepEqual(
      plan.fills.map((f) => [f.ref.orderId, f.fill.venueFillId]),
      [[ref.orderId, 'x-1']],
    );
    assert.deepEqual(
      plan.orderStates.map((s) => [s.orderId, s.order.status]),
      [[ref.orderId, 'partially_filled']],
    );
    assert.deepEqual(plan.positions.get('AAPL'), 40);
  });

  it('a fill already published (by the order or lately) is not adopted again, even listed twice', () => {
    const published = reconcile(
      book({ publishedFillIds: new Set(['x-1']), positions: new Map([['AAPL', 40]]) }),
      venue({
        fills: [venueFill(), venueFill()],
        positions: [{ symbol: 'AAPL', quantity: 40, averagePrice: 1 }],
      }),
      'halt',
    );
    assert.deepEqual(published.fills, []);
    const twice = reconcile(
      book({ positions: new Map() }),
      venue({
        fills: [venueFill(), venueFill()],
        positions: [{ symbol: 'AAPL', quantity: 40, averagePrice: 1 }],
      }),
      'halt',
    );
    assert.equal(twice.fills.length, 1);
  });

  it('an order closed at the venue takes its state; one the venue never received is sent again; one it lost is unexplained', () => {
    const closed = reconcile(
      book(),
      venue({
        openOrders: [],
        closed: new Map([[own.clientOrderId ?? '', venueOrder({ status: 'canceled' })]]),
      }),
      'halt',
    );
    assert.deepEqual(
      closed.orderStates.map((s) => s.order.status),
      ['canceled'],
    );
    assert.equal(closed.ok, true);
    const never = reconcile(
      book({ orders: [{ ...own, status: 'submitted', venueOrderId: undefined }] }),
      venue({ openOrders: [], closed: new Map([[own.clientOrderId ?? '', undefined]]) }),
      'halt',
    );
    assert.deepEqual(never.resubmit, [ref.orderId]);
    assert.equal(never.ok, true);
    const lost = reconcile(
      book(),
      venue({ openOrders: [], closed: new Map([[own.clientOrderId ?? '', undefined]]) }),
      'halt',
    );
    assert.deepEqual(lost.missing, [ref.orderId]);
    assert.equal(lost.ok, false);
  });

  it('an order Sluice did not place: cancelled, adopted or flagged per unknownOrders; its fills adopted under the venue’s order id', () => {
    const hand = venueOrder({
      clientOrderId: 'web-1',
      venueOrderId: 'h-9',
      quantity: 5,
      filledQuantity: 2,
      status: 'partially_filled',
    });
    const fills = [
      venueFill({ venueFillId: 'hx', venueOrderId: 'h-9', clientOrderId: 'web-1', quantity: 2 }),
    ];
    const positions = [{ symbol: 'AAPL', quantity: 2, averagePrice: 1 }];
    for (const [policy, action, ok] of [
      ['halt', 'flag', false],
      ['cancel', 'cancel', true],
      ['adopt', 'adopt', true],
    ] as const) {
      const plan = reconcile(book(), venue({ openOrders: [venueOrder(), hand], fills, positions }), policy);
      assert.deepEqual(
        plan.unknown.map((u) => [u.order.venueOrderId, u.action, u.ref.orderId]),
        [['h-9', action, 'venue:alpaca-paper:h-9:order']],
      );
      assert.deepEqual(
        plan.fills.map((f) => f.ref.orderId),
        ['venue:alpaca-paper:h-9:order'],
      );
      assert.equal(plan.ok, ok, policy);
    }
  });

  it('a position the fills do not explain is unexplained, naming the symbol and both quantities', () => {
    const plan = reconcile(
      book({ positions: new Map([['AAPL', 10]]) }),
      venue({
        positions: [
          { symbol: 'AAPL', quantity: 12, averagePrice: 1 },
          { symbol: 'TSLA', quantity: -3, averagePrice: 1 },
        ],
      }),
      'halt',
    );
    assert.equal(plan.ok, false);
    assert.deepEqual(
      plan.differences.map((d) => [d.kind, d.symbol, d.venue_quantity, d.sluice_quantity]),
      [
        ['position', 'AAPL', 12, 10],
        ['position', 'TSLA', -3, 0],
      ],
    );
  });

  describe('a spot balance (Binance: positions are base-asset balances)', () => {
    const balance = (quantity: number) => [{ symbol: 'AAPL', quantity, averagePrice: 0, balance: true }];
    const differences = (plan: ReturnType<typeof reconcile>) =>
      plan.differences.map((d) => [d.kind, d.symbol, d.venue_quantity, d.sluice_quantity]);

    it('at first sight, what the balance holds beyond the fills is the baseline, recorded; no difference', () => {
      const plan = reconcile(
        book({ orders: [] }),
        venue({ openOrders: [], positions: balance(0.5) }),
        'halt',
      );
      assert.equal(plan.ok, true);
      assert.deepEqual([...plan.newBaselines], [['AAPL', 0.5]]);
      // An old snapshot with fills but no baseline: only the part the fills do not explain.
      const restored = reconcile(
        book({ orders: [], positions: new Map([['AAPL', 0.25]]) }),
        venue({ openOrders: [], positions: balance(0.75) }),
        'halt',
      );
      assert.deepEqual([...restored.newBaselines], [['AAPL', 0.5]]);
    });

    it('commissions taken in the base asset, published or among the missed fills, explain a smaller balance', () => {
      const published = reconcile(
        book({
          orders: [],
          positions: new Map([['AAPL', 40]]),
          commissions: new Map([['AAPL', 0.04]]),
          balanceBaselines: new Map([['AAPL', 0.5]]),
        }),
        venue({ openOrders: [], positions: balance(40.46) }),
        'halt',
      );
      assert.deepEqual(differences(published), []);
      assert.deepEqual([...published.newBaselines], []);
      const missed = reconcile(
        book({ balanceBaselines: new Map([['AAPL', 0]]) }),
        venue({
          openOrders: [venueOrder({ status: 'partially_filled', filledQuantity: 40 })],
          fills: [venueFill({ baseCommission: 0.04 })],
          positions: balance(39.96),
        }),
        'halt',
      );
      assert.equal(missed.ok, true);
      assert.equal(missed.commissions.get('AAPL'), 0.04);
    });

    it('a balance the baseline, fills and commissions do not explain is still unexplained, and says how', () => {
      const plan = reconcile(
        book({
          orders: [],
          positions: new Map([['AAPL', 40]]),
          commissions: new Map([['AAPL', 0.04]]),
          balanceBaselines: new Map([['AAPL', 0.5]]),
        }),
        venue({ openOrders: [], positions: balance(40.36) }),
        'halt',
      );
      assert.equal(plan.ok, false);
      assert.deepEqual(differences(plan), [['position', 'AAPL', 40.36, 40]]);
      assert.match(
        plan.differences[0]?.detail ?? '',
        /0\.5 held before Sluice's fills, 0\.04 taken as commission, so 40\.46 expected/,
      );
      // The same difference on a position that is not a balance has no baseline to hide in.
      const position = reconcile(
        book({ orders: [], positions: new Map([['AAPL', 40]]), balanceBaselines: new Map([['AAPL', 0.36]]) }),
        venue({ openOrders: [], positions: [{ symbol: 'AAPL', quantity: 40.36, averagePrice: 1 }] }),
        'halt',
      );
      assert.equal(position.ok, false);
    });
  });

  it('legs of a bracket Sluice follows are its own, not unknown orders', () => {
    const leg = venueOrder({
      clientOrderId: 'alpaca-leg-1',
      venueOrderId: 'v-2',
      orderType: 'limit',
      side: 'sell',
      status: 'accepted',
    });
    const legOrder: BookOrder = {
      ...legRef(ref, leg),
      clientOrderId: 'alpaca-leg-1',
      venueOrderId: 'v-2',
      status: 'accepted',
      filledQuantity: 0,
      venueFillIds: new Set(),
      own: false,
    };
    const plan = reconcile(
      book({ orders: [own, legOrder] }),
      venue({ openOrders: [venueOrder({ legs: [leg] })] }),
      'halt',
    );
    assert.deepEqual(plan.unknown, []);
    assert.equal(plan.ok, true);
  });
});

describe('broker registry: real money is opt-in', () => {
  const paperEnv = { SLUICE_BROKER_KEY_ID: 'PK1', SLUICE_BROKER_SECRET: 's1' };
  const liveEnv = { SLUICE_BROKER_LIVE_KEY_ID: 'AK1', SLUICE_BROKER_LIVE_SECRET: 's2' };
  const refusal = (run: () => unknown): string => {
    try {
      run();
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    assert.fail('expected a ConfigError');
  };

  it('paper by default with the paper credentials; live only with live: true and the live ones', () => {
    assert.deepEqual(brokerAccount({ kind: 'alpaca' }, { ...paperEnv, ...liveEnv }), {
      live: false,
      keyId: 'PK1',
      secret: 's1',
      sandbox: true,
    });
    assert.deepEqual(brokerAccount({ kind: 'alpaca', live: true }, liveEnv), {
      live: true,
      keyId: 'AK1',
      secret: 's2',
      sandbox: false,
    });
    assert.deepEqual(
      brokerAccount({ kind: 'ccxt', exchange: 'binance', symbols: ['BTC/USDT'] }, paperEnv).sandbox,
      true,
    );
  });

  it('refuses live: true with paper credentials only, a live ccxt exchange without live: true, and no credentials', () => {
    assert.match(
      refusal(() => brokerAccount({ kind: 'alpaca', live: true }, paperEnv)),
      new RegExp(`^${BROKER_LIVE_KEY_ID}: is not set: live: true with paper credentials only`),
    );
    assert.match(
      refusal(() =>
        brokerAccount({ kind: 'ccxt', exchange: 'binance', sandbox: false, symbols: ['BTC/USDT'] }, liveEnv),
      ),
      /real money/,
    );
    assert.match(
      refusal(() =>
        brokerAccount(
          { kind: 'ccxt', exchange: 'binance', sandbox: true, live: true, symbols: ['BTC/USDT'] },
          liveEnv,
        ),
      ),
      /sandbox holds no real money/,
    );
    assert.match(
      refusal(() => brokerAccount({ kind: 'alpaca' }, {})),
      new RegExp(`^${BROKER_KEY_ID}: is not set`),
    );
  });

  it('builds a ccxt exchange in its sandbox as a paper account, and refuses an exchange it does not speak', async () => {
    const broker = await createLiveBroker(
      { kind: 'ccxt', exchange: 'binance', symbols: ['BTC/USDT'] },
      paperEnv,
    );
    assert.equal(broker.venue, 'binance');
    assert.equal(broker.accountMode, 'paper');
    await broker.close();
    await assert.rejects(
      createLiveBroker({ kind: 'ccxt', exchange: 'kraken', symbols: ['BTC/USD'] }, paperEnv),
      (error: Error) =>
        error instanceof ConfigError && /^\/trading\/broker\/exchange: .*not supported/.test(error.message),
    );
  });

  it('paper and live accounts trade under different names', () => {
    assert.equal(executionVenueName(undefined), 'SIM');
    assert.equal(executionVenueName({ kind: 'alpaca' }), 'alpaca-paper');
    assert.equal(executionVenueName({ kind: 'alpaca', live: true }), 'alpaca-live');
    assert.equal(
      executionVenueName({ kind: 'ccxt', exchange: 'kraken', symbols: ['BTC/USD'] }),
      'kraken-paper',
    );
  });
});
