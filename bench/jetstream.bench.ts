// JetStream throughput: plain nats.js against Sluice's publisher (validation, Nats-Msg-Id, pipelined
// acks) and consumer runner (decode, validate, ack, dead-letter path armed), same server, same run,
// same real Binance trades (cycled to the message count, each with its own id).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { TradeTick } from '../schemas/messages.ts';
import { Subjects } from '../schemas/subjects.ts';
import { binanceTradeFile, readDatasetFile } from '../simulations/sources/datasets.ts';
import { connectNats } from '../streams/connection.ts';
import { ConsumerRunner } from '../streams/consumer-runner.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyStreams } from '../streams/topology.ts';
import { startNatsServer } from '../test/support/nats-server.ts';

const MESSAGES = Number(process.env.BENCH_JETSTREAM_MESSAGES ?? 100_000);
const WINDOW = 512;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function realTrades(count: number, symbol: string): Promise<TradeTick[]> {
  const source: TradeTick[] = [];
  const file = join(
    repoRoot,
    '..',
    'shared',
    'data',
    'binance-btcusdt-ticks',
    'btcusdt_trades_2021-01-08.csv',
  );
  for await (const row of readDatasetFile(binanceTradeFile(file)))
    if (row.kind === 'trade') source.push(row.event);
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

function perSecond(count: number, startedAt: number): number {
  return Math.round(count / ((performance.now() - startedAt) / 1000));
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

    // Plain nats.js: a durable pull consumer, parse and ack each message.
    await manager.consumers.add('MARKET', {
      durable_name: 'raw-bench',
      ack_policy: AckPolicy.Explicit,
      filter_subject: subjects.tick('RAWBENCH'),
      max_ack_pending: 1024,
    });
    startedAt = performance.now();
    const messages = await (await client.consumers.get('MARKET', 'raw-bench')).consume({ max_messages: 256 });
    let consumed = 0;
    for await (const message of messages) {
      message.json<TradeTick>();
      message.ack();
      if (++consumed === MESSAGES) break;
    }
    const rawConsume = perSecond(MESSAGES, startedAt);

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
