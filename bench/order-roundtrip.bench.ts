// Order round trip through the Alpaca broker (actors/execution/brokers/alpaca.ts, Alpaca's real SDK)
// to the loopback Alpaca trading server (test/support/loopback/alpaca-trading.ts, in a process of
// its own, as a broker would be elsewhere), with its trade_updates stream connected:
// - order_roundtrip_p50_us / _p99_us: an order_intent.v2 -> AlpacaBroker.submit -> the venue's
//   acknowledgement -> that acknowledgement as an order_event.v1, published to JetStream (a real
//   nats-server started here) and acknowledged by it.
// - order_roundtrip_ack_p50_us / _p99_us: the same samples up to the acknowledgement only.
// - order_roundtrip_raw_p50_us / _p99_us: a plain `fetch` POST /v2/orders of the same order to the
//   same server, its JSON answer parsed: the floor the adapter is compared against.
// The two kinds of sample alternate in one run, so a busy machine weighs on both alike. Orders are
// sell limits far above the market: each rests at the venue, so the venue's work is the same for all.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createAlpacaBroker } from '../actors/execution/brokers/alpaca.ts';
import { clientOrderIdFor, orderIdFor, venueOrderEventIdFor } from '../core/lineage-ids.ts';
import type { OrderEvent, OrderIntent } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats } from '../streams/connection.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyStreams } from '../streams/topology.ts';
import { AlpacaTradingProcess } from '../test/support/loopback/alpaca-trading-process.ts';
import { startNatsServer } from '../test/support/nats-server.ts';

const SAMPLES = Number(process.env.BENCH_ORDER_ROUNDTRIPS ?? 1_000);
const WARMUP = 100;
const KEY = 'PKBENCHTRADING';
const SECRET = 'bench-trading-secret';
const LIMIT_PRICE = 1_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function intent(sample: number): OrderIntent {
  return {
    schema: 'order_intent.v2',
    id: `sig:bench:${sample}:intent`,
    ts_event: 0,
    ts_init: 0,
    strategy: 'bench',
    symbol: 'SPY',
    side: 'sell',
    quantity: 1,
    order_type: 'limit',
    limit_price: LIMIT_PRICE,
    time_in_force: 'day',
    reduce_only: false,
    signal_id: `sig:bench:${sample}`,
  };
}

export default async function orderRoundtripBench(): Promise<Record<string, number>> {
  const venue = await AlpacaTradingProcess.start({
    keyId: KEY,
    secretKey: SECRET,
    cash: 1_000_000,
    bars: 100,
  });
  const nats = await startNatsServer();
  const connection = await connectNats({ url: nats.url, name: 'bench-order-roundtrip' });
  const broker = createAlpacaBroker({
    keyId: KEY,
    secretKey: SECRET,
    paper: true,
    baseUrl: venue.baseUrl,
    streamUrl: venue.streamUrl,
  });
  try {
    await applyStreams(await jetstreamManager(connection), { replicas: 1 });
    const publisher = new EventPublisher(jetstream(connection));
    const subjects = new Subjects(4);
    await broker.connect();
    let streamed = 0;
    broker.onUpdate(() => streamed++);

    const full: number[] = [];
    const acked: number[] = [];
    const raw: number[] = [];
    for (let sample = 0; sample < WARMUP + SAMPLES; sample++) {
      const order = intent(sample);
      const orderId = orderIdFor(order.id);
      const startedAt = performance.now();
      const ack = await broker.submit(order, clientOrderIdFor(orderId));
      const ackAt = performance.now();
      const event: OrderEvent = {
        schema: 'order_event.v1',
        id: venueOrderEventIdFor(orderId, ack.status, ack.filledQuantity),
        ts_event: ack.updatedAt,
        ts_init: ack.updatedAt,
        order_id: orderId,
        intent_id: order.id,
        symbol: order.symbol,
        status: ack.status,
        filled_quantity: ack.filledQuantity,
        leaves_quantity: ack.quantity - ack.filledQuantity,
        account_mode: broker.accountMode,
        venue_order_id: ack.venueOrderId,
      };
      await publisher.publish('order_event', subjects.orderEvent(order.symbol), event);
      await publisher.flush();
      const doneAt = performance.now();

      const rawOrder = intent(-1 - sample);
      const rawStartedAt = performance.now();
      const response = await fetch(`${venue.baseUrl}/v2/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'APCA-API-KEY-ID': KEY,
          'APCA-API-SECRET-KEY': SECRET,
        },
        body: JSON.stringify({
          symbol: rawOrder.symbol,
          side: rawOrder.side,
          qty: String(rawOrder.quantity),
          type: rawOrder.order_type,
          time_in_force: rawOrder.time_in_force,
          limit_price: String(LIMIT_PRICE),
          client_order_id: clientOrderIdFor(orderIdFor(rawOrder.id)),
        }),
      });
      const answer = (await response.json()) as { status?: string };
      const rawDoneAt = performance.now();
      if (response.status !== 200 || answer.status === undefined)
        throw new Error(`order roundtrip bench: raw POST answered ${response.status}`);
      if (sample < WARMUP) continue;
      full.push((doneAt - startedAt) * 1000);
      acked.push((ackAt - startedAt) * 1000);
      raw.push((rawDoneAt - rawStartedAt) * 1000);
    }
    if (streamed === 0) throw new Error('order roundtrip bench: no trade_updates arrived');
    const figures: Record<string, number> = {};
    for (const [name, values] of [
      ['order_roundtrip', full],
      ['order_roundtrip_ack', acked],
      ['order_roundtrip_raw', raw],
    ] as const) {
      const sorted = [...values].sort((a, b) => a - b);
      figures[`${name}_p50_us`] = Math.round(percentile(sorted, 50));
      figures[`${name}_p99_us`] = Math.round(percentile(sorted, 99));
    }
    return figures;
  } finally {
    await broker.close();
    await connection.close();
    await nats.dispose();
    await venue.close();
  }
}
