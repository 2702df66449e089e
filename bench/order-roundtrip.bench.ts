// Order round trip through the ExecutionActor at the Alpaca broker (actors/execution/brokers/alpaca.ts,
// Alpaca's real SDK), as `sluice run` trades there: the actor on a real nats-server started here (its
// ord.> consumer, its snapshots in the KV bucket), the loopback Alpaca trading server
// (test/support/loopback/alpaca-trading.ts) in a process of its own, as a broker would be elsewhere,
// its trade_updates stream connected. One sample:
// - order_roundtrip_p50_us / _p99_us: a sealed order_intent.v2 published on ord.intent.SPY -> the
//   actor's consumer -> BrokerDriver (order_event `submitted` published, snapshot saved) ->
//   AlpacaBroker.submit -> the venue's acknowledgement -> the order_event stating it (venue-reports.ts)
//   published, until JetStream acknowledges that publish.
// - order_roundtrip_ack_p50_us / _p99_us: the same samples up to the broker's acknowledgement only
//   (when the driver's onAcknowledged fires).
// - order_roundtrip_venue_p50_us / _p99_us: AlpacaBroker.submit alone (the onAcknowledged seconds):
//   the adapter's leg, to set beside the raw one.
// - order_roundtrip_raw_p50_us / _p99_us: a plain `fetch` POST /v2/orders of the same order to the
//   same server, its JSON answer parsed: the floor the adapter is compared against.
// The end is seen at the publish ack rather than by subscribing to exec.order.*: the actor's bus is
// wrapped, and when it publishes the awaited order event the bench waits for the publisher's acks
// (EventPublisher pipelines them) beside the actor, which does not wait for them. That costs a map
// lookup per publish, where a subscription would add a delivery to another connection.
// The two kinds of sample alternate in one run, so a busy machine weighs on both alike. Orders are
// sell limits far above the market, cancelled (untimed) after each sample, the actor's through its
// own cancel path: the venue's books and the actor's snapshot stay the same size for every sample.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ExecutionActor } from '../actors/execution/actor.ts';
import { createAlpacaBroker } from '../actors/execution/brokers/alpaca.ts';
import { cancelSubject } from '../actors/risk/actor.ts';
import { WallClock } from '../core/clock.ts';
import { GateKey, sealIntent } from '../core/gate-seal.ts';
import { orderIdFor } from '../core/lineage-ids.ts';
import type { MessageName, MessageOf, OrderEvent, OrderStatus } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { type ActorBus, NatsActorBus, type SubscribeOptions, type Subscription } from '../streams/bus.ts';
import { connectNats } from '../streams/connection.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applySnapshotBucket, KvSnapshotStore } from '../streams/snapshot-store.ts';
import { applyStreams } from '../streams/topology.ts';
import { AlpacaTradingProcess } from '../test/support/loopback/alpaca-trading-process.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { cancelCommand, clientOrderIdOf, frictionlessVenue, orderIntent } from '../test/support/orders.ts';

const SAMPLES = Number(process.env.BENCH_ORDER_ROUNDTRIPS ?? 1_000);
const WARMUP = 100;
const KEY = 'PKBENCHTRADING';
const SECRET = 'bench-trading-secret';
const LIMIT_PRICE = 1_000;
const gateKey = GateKey.forRun('bench-order-roundtrip');

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The actor's bus, telling when JetStream has acknowledged an awaited order event. */
class AckWatch implements ActorBus {
  readonly subjects: Subjects;
  private readonly awaited = new Map<string, { until: OrderStatus[]; acked: (at: number) => void }>();

  constructor(private readonly bus: NatsActorBus) {
    this.subjects = bus.subjects;
  }

  /** Resolves with the time JetStream acked the first order event of `orderId` in one of `until`. */
  acked(orderId: string, until: OrderStatus[]): Promise<number> {
    return new Promise((acked) => this.awaited.set(orderId, { until, acked }));
  }

  async publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    await this.bus.publish(name, subject, event);
    if (name !== 'order_event') return;
    const { order_id: orderId, status } = event as OrderEvent;
    const awaited = this.awaited.get(orderId);
    if (awaited === undefined || !awaited.until.includes(status)) return;
    this.awaited.delete(orderId);
    void this.bus.flush().then(() => awaited.acked(performance.now()));
  }

  subscribe<N extends MessageName>(options: SubscribeOptions<N>): Promise<Subscription> {
    return this.bus.subscribe(options);
  }

  flush(): Promise<void> {
    return this.bus.flush();
  }
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
  let actor: ExecutionActor | undefined;
  try {
    const js = jetstream(connection);
    const manager = await jetstreamManager(connection);
    await applyStreams(manager, { replicas: 1 });
    await applySnapshotBucket(js);
    const subjects = new Subjects(4);
    const bus = new AckWatch(new NatsActorBus(js, manager, subjects));
    const gate = new EventPublisher(js);
    let acknowledgedAt = 0;
    let venueLeg = 0;
    actor = await ExecutionActor.start({
      bus,
      venue: frictionlessVenue(),
      broker: {
        broker: createAlpacaBroker({
          keyId: KEY,
          secretKey: SECRET,
          paper: true,
          baseUrl: venue.baseUrl,
          streamUrl: venue.streamUrl,
        }),
        venue: 'alpaca-paper',
        unknownOrders: 'halt',
        clock: new WallClock(),
        onAcknowledged: (seconds) => {
          acknowledgedAt = performance.now();
          venueLeg = seconds * 1e6;
        },
      },
      gateKey,
      store: await KvSnapshotStore.open(js),
    });

    const full: number[] = [];
    const acked: number[] = [];
    const venueLegs: number[] = [];
    const raw: number[] = [];
    const fields = { side: 'sell', order_type: 'limit', limit_price: LIMIT_PRICE } as const;
    for (let sample = 0; sample < WARMUP + SAMPLES; sample++) {
      const ts = Date.now();
      const signalId = `sig:bench:${sample}`;
      const intent = sealIntent(
        orderIntent(signalId, { ...fields, strategy: 'bench', ts_event: ts, ts_init: ts }),
        { decisionId: `${signalId}:decision` },
        gateKey,
      );
      const orderId = orderIdFor(intent.id);
      const answered = bus.acked(orderId, ['accepted', 'rejected']);
      const startedAt = performance.now();
      await gate.publish('order_intent', subjects.orderIntent(intent.symbol), intent);
      const doneAt = await answered;
      const sampleAck = acknowledgedAt;
      const sampleVenueLeg = venueLeg;

      const canceled = bus.acked(orderId, ['canceled']);
      await gate.publish('control_command', cancelSubject(bus, intent.symbol), cancelCommand(orderId, ts));
      await canceled;

      const rawOrder = orderIntent(`sig:bench-raw:${sample}`, fields);
      const headers = {
        'content-type': 'application/json',
        'APCA-API-KEY-ID': KEY,
        'APCA-API-SECRET-KEY': SECRET,
      };
      const rawStartedAt = performance.now();
      const response = await fetch(`${venue.baseUrl}/v2/orders`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          symbol: rawOrder.symbol,
          side: rawOrder.side,
          qty: String(rawOrder.quantity),
          type: rawOrder.order_type,
          time_in_force: rawOrder.time_in_force,
          limit_price: String(LIMIT_PRICE),
          client_order_id: clientOrderIdOf(rawOrder),
        }),
      });
      const answer = (await response.json()) as { id?: string; status?: string };
      const rawDoneAt = performance.now();
      if (response.status !== 200 || answer.status === undefined)
        throw new Error(`order roundtrip bench: raw POST answered ${response.status}`);
      const rawCancel = await fetch(`${venue.baseUrl}/v2/orders/${answer.id}`, { method: 'DELETE', headers });
      if (rawCancel.status !== 204)
        throw new Error(`order roundtrip bench: raw DELETE answered ${rawCancel.status}`);

      if (sample < WARMUP) continue;
      full.push((doneAt - startedAt) * 1000);
      acked.push((sampleAck - startedAt) * 1000);
      venueLegs.push(sampleVenueLeg);
      raw.push((rawDoneAt - rawStartedAt) * 1000);
    }
    const { broker } = actor.status();
    if (broker?.acknowledged !== WARMUP + SAMPLES || Object.keys(broker.rejects).length > 0)
      throw new Error(
        `order roundtrip bench: the venue did not take every order (${JSON.stringify(broker)})`,
      );
    const figures: Record<string, number> = {};
    for (const [name, values] of [
      ['order_roundtrip', full],
      ['order_roundtrip_ack', acked],
      ['order_roundtrip_venue', venueLegs],
      ['order_roundtrip_raw', raw],
    ] as const) {
      const sorted = [...values].sort((a, b) => a - b);
      figures[`${name}_p50_us`] = Math.round(percentile(sorted, 50));
      figures[`${name}_p99_us`] = Math.round(percentile(sorted, 99));
    }
    return figures;
  } finally {
    await actor?.stop();
    await connection.close();
    await nats.dispose();
    await venue.close();
  }
}
