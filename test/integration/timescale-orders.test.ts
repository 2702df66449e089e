// The execution tables on a real PostgreSQL (plain or with TimescaleDB, whichever the test support
// starts): orders rows keep order_intent.v2's fields (stop price, time in force, bracket, time exit, exit
// reason) and, from the order events, the account mode and the venue's order id; an order followed at
// the venue without an intent (adopted, or a bracket's leg) has a row too; order events and fills keep
// the account mode and the venue's ids. Each column is read back as written.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Fill, OrderEvent, OrderIntent } from '../../schemas/messages.ts';
import type { Database } from '../../timescale/database.ts';
import {
  fillWriter,
  type OrderSpec,
  orderEventWriter,
  orderSpecOfIntent,
  orderWriter,
} from '../../timescale/rows/orders.ts';
import { useMigratedDatabase } from '../support/postgres.ts';

const RUN = 'orders-columns';
const T0 = 1_765_000_000_000;
const TERMINAL = ['filled', 'canceled', 'expired', 'rejected'] as const;

const intent: OrderIntent = {
  schema: 'order_intent.v2',
  id: 'sig:rows:1:intent',
  ts_event: T0,
  ts_init: T0 + 1,
  strategy: 'momentum',
  symbol: 'BTC/USDT',
  side: 'buy',
  quantity: 0.5,
  order_type: 'stop_limit',
  stop_price: 41_000,
  limit_price: 41_050,
  time_in_force: 'fok',
  reduce_only: false,
  bracket: { take_profit: { limit_price: 45_000 }, stop_loss: { stop_price: 39_000, limit_price: 38_900 } },
  exit_after: T0 + 86_400_000,
  exit_reason: 'signal',
  signal_id: 'sig:rows:1',
};
const ORDER_ID = `${intent.id}:order`;

function event(fields: Partial<OrderEvent>): OrderEvent {
  return {
    schema: 'order_event.v1',
    id: `${ORDER_ID}:event:${fields.status}`,
    ts_event: T0 + 10,
    ts_init: T0 + 11,
    order_id: ORDER_ID,
    intent_id: intent.id,
    symbol: intent.symbol,
    status: 'accepted',
    filled_quantity: 0,
    leaves_quantity: 0.5,
    ...fields,
  };
}

describe('orders, order_events and fills keep the venue fields and order_intent.v2', () => {
  let db: Kysely<Database>;
  useMigratedDatabase((opened) => {
    db = opened;
  });

  test("an intent's order: its v2 fields, then the account mode and venue order id from its events", async () => {
    const orders = orderWriter(db, RUN, TERMINAL);
    const events = orderEventWriter(db, RUN);
    const spec = orderSpecOfIntent(ORDER_ID, intent);
    const row = (status: OrderEvent['status'], venueOrderId: string | null, filled = 0) => ({
      order: spec,
      status,
      filled,
      avgFillPrice: filled > 0 ? 41_040 : null,
      updatedAt: T0 + 10,
      accountMode: venueOrderId === null ? null : ('live' as const),
      venueOrderId,
    });
    await orders.add(row('submitted', null));
    await orders.flush();
    const accepted = event({ status: 'accepted', account_mode: 'live', venue_order_id: 'v-123' });
    await events.add(accepted);
    await orders.add(row('accepted', 'v-123'));
    await orders.flush();
    // An event without the venue's id (as a cancel Sluice settles itself may be) keeps the one stored.
    await orders.add(row('partially_filled', null, 0.2));
    await Promise.all([orders.flush(), events.flush()]);

    const stored = await db.selectFrom('orders').selectAll().where('run_id', '=', RUN).execute();
    assert.equal(stored.length, 1);
    const [order] = stored;
    assert.deepEqual(
      {
        strategy: order?.strategy,
        order_type: order?.order_type,
        limit_price: order?.limit_price,
        stop_price: order?.stop_price,
        time_in_force: order?.time_in_force,
        bracket: order?.bracket,
        exit_after: order?.exit_after?.getTime(),
        exit_reason: order?.exit_reason,
        origin: order?.origin,
        account_mode: order?.account_mode,
        venue_order_id: order?.venue_order_id,
        status: order?.status,
        filled_quantity: order?.filled_quantity,
      },
      {
        strategy: 'momentum',
        order_type: 'stop_limit',
        limit_price: 41_050,
        stop_price: 41_000,
        time_in_force: 'fok',
        bracket: intent.bracket,
        exit_after: T0 + 86_400_000,
        exit_reason: 'signal',
        origin: 'intent',
        account_mode: 'live',
        venue_order_id: 'v-123',
        status: 'partially_filled',
        filled_quantity: 0.2,
      },
    );
    const storedEvents = await db
      .selectFrom('order_events')
      .select(['status', 'account_mode', 'venue_order_id'])
      .where('run_id', '=', RUN)
      .execute();
    assert.deepEqual(storedEvents, [{ status: 'accepted', account_mode: 'live', venue_order_id: 'v-123' }]);
  });

  test('an order adopted from the venue has a row without strategy or time in force', async () => {
    const adopted: OrderSpec = {
      id: 'venue:binance-paper:28000000009:order',
      ts: T0 + 500,
      tsInit: T0 + 500,
      intentId: 'venue:binance-paper:28000000009',
      strategy: null,
      symbol: 'BTC/USDT',
      side: 'sell',
      quantity: 0.01,
      orderType: 'limit',
      limitPrice: 50_000,
      stopPrice: null,
      timeInForce: null,
      reduceOnly: false,
      bracket: null,
      exitAfter: null,
      exitReason: null,
      origin: 'venue',
    };
    const orders = orderWriter(db, RUN, TERMINAL);
    await orders.add({
      order: adopted,
      status: 'accepted',
      filled: 0,
      avgFillPrice: null,
      updatedAt: T0 + 600,
      accountMode: 'paper',
      venueOrderId: '28000000009',
    });
    await orders.flush();
    const row = await db
      .selectFrom('orders')
      .select([
        'strategy',
        'time_in_force',
        'origin',
        'order_type',
        'limit_price',
        'venue_order_id',
        'status',
      ])
      .where('run_id', '=', RUN)
      .where('id', '=', adopted.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, {
      strategy: null,
      time_in_force: null,
      origin: 'venue',
      order_type: 'limit',
      limit_price: 50_000,
      venue_order_id: '28000000009',
      status: 'accepted',
    });
  });

  test("a fill keeps the account mode and the venue's order and fill ids; a simulated one has none", async () => {
    const fills = fillWriter(db, RUN);
    const fill = (id: string, fields: Partial<Fill>): Fill => ({
      schema: 'fill.v1',
      id,
      ts_event: T0 + 20,
      ts_init: T0 + 21,
      order_id: ORDER_ID,
      symbol: intent.symbol,
      side: 'buy',
      quantity: 0.2,
      price: 41_040,
      fee: 8.2,
      liquidity: 'taker',
      ...fields,
    });
    await fills.add(
      fill('f-venue', {
        account_mode: 'live',
        venue_order_id: 'v-123',
        venue_fill_id: 'x-9',
        base_commission: 0.00001,
      }),
    );
    await fills.add(fill('f-sim', { account_mode: 'simulated' }));
    await fills.flush();
    const stored = await db
      .selectFrom('fills')
      .select(['id', 'account_mode', 'venue_order_id', 'venue_fill_id', 'base_commission'])
      .where('run_id', '=', RUN)
      .orderBy('id')
      .execute();
    assert.deepEqual(stored, [
      {
        id: 'f-sim',
        account_mode: 'simulated',
        venue_order_id: null,
        venue_fill_id: null,
        base_commission: null,
      },
      {
        id: 'f-venue',
        account_mode: 'live',
        venue_order_id: 'v-123',
        venue_fill_id: 'x-9',
        base_commission: 0.00001,
      },
    ]);
  });
});
