// JetStream throughput: plain nats.js against Sluice's publisher (validation, Nats-Msg-Id, pipelined
// acks) and consumer runner (decode, validate, ack, dead-letter path armed), same server, same run,
// same real Binance trades (cycled to the message count, each with its own id).
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { TradeTick } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { connectNats } from '../streams/connection.ts';
import { ConsumerRunner } from '../streams/consumer-runner.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyStreams } from '../streams/topology.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { binanceTrades, perSecond, rawConsumePerSecond } from './support/jetstream.ts';

const MESSAGES = Number(process.env.BENCH_JETSTREAM_MESSAGES ?? 100_000);
const WINDOW = 512;

async function realTrades(count: number, symbol: string): Promise<TradeTick[]> {
  const source = await binanceTrades();
  return Array.from({ length: count }, (_, index) => {
    const trade = source[index % source.length]!;
    return {
      ...trade,
      symbol,
      id: `bench:${symbol}:${index}`,
      ts_event: trade.ts_event + index,
      ts_init: trade.ts_init + index,
    };
  });
}

export default async function jetstreamBench(): Promise<Record<string, number>> {
  const server = await startNatsServer();
  const connection = await connectNats({ url: server.url, name: 'bench' });
  try {
    const manager = await jetstreamManager(connection);
    await applyStreams(manager, { replicas: 1 });
    const client = jetstream(connection);
    const subjects = new Subjects(4);
    const rawTrades = await realTrades(MESSAGES, 'RAWBENCH');
    const sluiceTrades = await realTrades(MESSAGES, 'SLUICEBENCH');

    // Plain nats.js: stringify and publish with the same ack window.
    let startedAt = performance.now();
    const inFlight: Promise<unknown>[] = [];
    for (const trade of rawTrades) {
      inFlight.push(client.publish(subjects.tick(trade.symbol), JSON.stringify(trade), { msgID: trade.id }));
      if (inFlight.length >= WINDOW) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const rawPublish = perSecond(MESSAGES, startedAt);

    startedAt = performance.now();
    const publisher = new EventPublisher(client, { window: WINDOW });
    for (const trade of sluiceTrades)
      await publisher.publish('trade_tick', subjects.tick(trade.symbol), trade);
    await publisher.flush();
    const sluicePublish = perSecond(MESSAGES, startedAt);

    const rawConsume = await rawConsumePerSecond(client, manager, subjects.tick('RAWBENCH'), MESSAGES);

    let processed = 0;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolveFn) => {
      resolveDone = resolveFn;
    });
    const runner = new ConsumerRunner({
      consumer: { stream: 'MARKET', durable: 'sluice-bench', filterSubject: subjects.tick('SLUICEBENCH') },
      messages: ['trade_tick', 'quote_tick'],
      handler: () => {
        if (++processed === MESSAGES) resolveDone();
      },
      publisher,
      subjects,
    });
    startedAt = performance.now();
    await runner.start(client, manager);
    await done;
    const sluiceConsume = perSecond(MESSAGES, startedAt);
    await runner.drain();

    return {
      jetstream_bench_messages: MESSAGES,
      jetstream_raw_publish_per_s: rawPublish,
      sluice_publish_per_s: sluicePublish,
      jetstream_raw_consume_per_s: rawConsume,
      sluice_consume_per_s: sluiceConsume,
      sluice_consume_vs_raw: Number((sluiceConsume / rawConsume).toFixed(3)),
    };
  } finally {
    await connection.close();
    await server.dispose();
  }
}
