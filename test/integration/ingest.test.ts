import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stocknetPriceFile } from '../../core/datasets.ts';
import type { DeadLetter } from '../../schemas/messages.ts';
import { ConsumerRunner } from '../../streams/consumer-runner.ts';
import { ingestDataset } from '../../streams/ingest.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { runCli } from '../support/cli.ts';

describe('sluice ingest on a real nats-server', () => {
  let bus: TestBus;
  let scratch: string;
  before(async () => {
    bus = await startTestBus();
    scratch = mkdtempSync(join(tmpdir(), 'sluice-ingest-'));
  });
  after(async () => {
    await bus?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('publishes a real data set once; a second run publishes nothing new', async () => {
    const env = { NATS_URL: bus.url, SLUICE_PARTITIONS: '4' };
    const first = await runCli(['ingest', 'spy-minute', 'binance-trades', '--json'], env);
    assert.equal(first.code, 0, first.stderr);
    const firstSummary = JSON.parse(first.stdout) as {
      dataset: string;
      published: number;
      duplicates: number;
      rejected: number;
    }[];
    assert.deepEqual(
      firstSummary.map(({ dataset, published, duplicates, rejected }) => ({
        dataset,
        published,
        duplicates,
        rejected,
      })),
      [
        { dataset: 'spy-minute', published: 14_180, duplicates: 0, rejected: 0 },
        { dataset: 'binance-trades', published: 2_001 + 451, duplicates: 0, rejected: 0 },
      ],
    );

    const second = await runCli(['ingest', 'spy-minute', 'binance-trades', '--json'], env);
    assert.equal(second.code, 0, second.stderr);
    const secondSummary = JSON.parse(second.stdout) as { published: number; duplicates: number }[];
    assert.deepEqual(
      secondSummary.map(({ published, duplicates }) => ({ published, duplicates })),
      [
        { published: 0, duplicates: 14_180 },
        { published: 0, duplicates: 2_452 },
      ],
    );
    const market = await bus.manager.streams.info('MARKET');
    assert.equal(market.state.messages, 14_180 + 2_452);
  });

  it('sends bad rows to the dead-letter stream with row number and reason, and publishes the good ones', async () => {
    const path = join(scratch, 'BADCO.csv');
    writeFileSync(
      path,
      [
        'Date,Open,High,Low,Close,Adj Close,Volume',
        '2015-01-02,10,11,9,10.5,10.5,1000',
        '2015-01-05,ten,11,9,10.5,10.5,1000',
        '2015-01-06,10,11,12,10.5,10.5,1000',
        'not-a-date,10,11,9,10.5,10.5,1000',
        '2015-01-07,10,11,9,10.5,10.5,-5',
        '2015-01-08,10.5,12,10,11,11,2000',
      ].join('\n'),
    );
    const target = {
      events: new EventPublisher(bus.jetstream),
      deadLetters: new EventPublisher(bus.jetstream),
      subjects: bus.subjects,
    };
    const summary = await ingestDataset(
      { name: 'badco', description: 'bad rows', files: [stocknetPriceFile(path)], symbols: ['BADCO'] },
      target,
      {
        receivedAt: 1_700_000_000_000,
      },
    );
    assert.deepEqual(
      { rows: summary.rows, published: summary.published, rejected: summary.rejected },
      { rows: 6, published: 2, rejected: 4 },
    );

    const letters: DeadLetter[] = [];
    const fetched = await (await bus.jetstream.consumers.get('DEADLETTER')).fetch({
      max_messages: 4,
      expires: 2_000,
    });
    for await (const message of fetched) letters.push(message.json<DeadLetter>());
    assert.deepEqual(
      letters.map((letter) => letter.source_row),
      [3, 4, 5, 6],
    );
    assert.match(letters[0]!.reason, /Open: not a number/);
    assert.match(letters[1]!.reason, /low 12 is above \/high 11/);
    assert.match(letters[2]!.reason, /Date: not YYYY-MM-DD/);
    assert.match(letters[3]!.reason, /\/volume/);
    assert.ok(letters.every((letter) => letter.consumer === 'ingest:badco/BADCO.csv'));

    // The valid rows after the bad ones reached the market stream and are consumed as usual.
    const closes: number[] = [];
    const runner = new ConsumerRunner({
      consumer: { stream: 'MARKET', durable: 'badco-reader', filterSubject: bus.subjects.bar('BADCO') },
      messages: ['bar'],
      handler: (bar) => {
        closes.push(bar.close);
      },
      publisher: target.events,
      subjects: bus.subjects,
    });
    await runner.start(bus.jetstream, bus.manager);
    const deadline = Date.now() + 10_000;
    while (closes.length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await runner.drain();
    assert.deepEqual(closes, [10.5, 11]);
  });

  it('stops with a message naming the argument for an unknown data set', async () => {
    const result = await runCli(['ingest', 'no-such-set'], { NATS_URL: bus.url });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /dataset: unknown data set "no-such-set"\. Use one of: stocknet-prices/);
  });
});
