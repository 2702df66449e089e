// Pieces the benches share: the real Binance trade prints they replay, and the plain nats.js
// consume loop that Sluice's figures are compared against.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { binanceTradeFile } from '../../core/datasets.ts';
import type { TradeTick } from '../../schemas/messages.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The 2,001 consecutive BTCUSDT trades of ../shared/data/binance-btcusdt-ticks, in time order. */
export async function binanceTrades(): Promise<TradeTick[]> {
  const file = join(
    repoRoot,
    '..',
    'shared',
    'data',
    'binance-btcusdt-ticks',
    'btcusdt_trades_2021-01-08.csv',
  );
  const trades: TradeTick[] = [];
  for await (const row of readDatasetFile(binanceTradeFile(file)))
    if (row.kind === 'trade') trades.push(row.event);
  return trades;
}

export function perSecond(count: number, startedAt: number): number {
  return Math.round(count / ((performance.now() - startedAt) / 1000));
}

/**
 * Plain nats.js: a durable pull consumer on `filterSubject` of MARKET that parses and acks each of
 * `count` messages already in the stream; messages per second.
 */
export async function rawConsumePerSecond(
  client: JetStreamClient,
  manager: JetStreamManager,
  filterSubject: string,
  count: number,
): Promise<number> {
  await manager.consumers.add('MARKET', {
    durable_name: 'raw-bench',
    ack_policy: AckPolicy.Explicit,
    filter_subject: filterSubject,
    max_ack_pending: 1024,
  });
  const startedAt = performance.now();
  const messages = await (await client.consumers.get('MARKET', 'raw-bench')).consume({ max_messages: 256 });
  let consumed = 0;
  for await (const message of messages) {
    message.json<TradeTick>();
    message.ack();
    if (++consumed === count) break;
  }
  return perSecond(count, startedAt);
}
