// The feed's data-integrity loop over a real nats-server: real SPY minute bars and Binance trades with
// parts taken out and a bad print put in are published to MARKET, dead letters to DEADLETTER; the
// feed check reports exactly those gaps, jumps and rejects per symbol and day; the gaps become
// feed_backfill jobs (the same gap twice is one job), a worker runs them, and the check comes back clean.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { feedSubject, publishFeedEvent } from '../../actors/feed/publish.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { binanceTradeFile, ninjaTraderMinuteFile } from '../../core/datasets.ts';
import type { Bar, TradeTick } from '../../schemas/messages.ts';
import {
  FEED_BACKFILL_KIND,
  FEED_BACKFILL_SWEEP,
  feedBackfillJobRunner,
  submitFeedBackfills,
} from '../../simulations/feed-backfill-job.ts';
import {
  feedCheckReport,
  formatFeedCheckJson,
  formatFeedCheckText,
  reportGaps,
} from '../../simulations/feed-check.ts';
import {
  applySweepTopology,
  pendingSweepJobs,
  readSweepResults,
  runWorker,
  submitSweep,
  sweepJob,
  sweepRegistry,
} from '../../simulations/sweep-queue.ts';
import { sendToDeadLetter } from '../../streams/dead-letter.ts';
import { EventPublisher } from '../../streams/publisher.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { FILE_FEED_PROVIDER, FileFeedAdapter, tradeFrame } from '../support/file-feed-adapter.ts';

const DATA = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');
const utc = (iso: string) => Date.parse(iso);
const JANUARY = { fromMs: utc('2011-01-01T00:00Z'), toMs: utc('2011-02-01T00:00Z') };

let bus: TestBus;
const spy: Bar[] = [];
const trades: TradeTick[] = [];
/** Trades of the 10 s taken out of the Binance file, and the bad print. */
let cutFrom = 0;
let cutTo = 0;
const SPIKE = 1500;

const missingSpy = (bar: Bar) =>
  (bar.ts_event > utc('2011-01-18T15:00Z') && bar.ts_event <= utc('2011-01-18T15:10Z')) ||
  bar.ts_event === utc('2011-01-25T21:00Z');

const integrityOptions = { defaultClass: 'equity', symbolClasses: { BTCUSDT: 'crypto' }, tradeGapMs: 2_000 };

before(async () => {
  bus = await startTestBus();
  for await (const row of readDatasetFile(
    ninjaTraderMinuteFile(join(DATA, 'spy-minute-pyalgotrade', 'ninjatrader_spy_minute_2011-01.csv')),
  ))
    if (row.kind === 'bar') spy.push(row.event);
  for await (const row of readDatasetFile(
    binanceTradeFile(join(DATA, 'binance-btcusdt-ticks', 'btcusdt_trades_2021-01-08.csv')),
  ))
    if (row.kind === 'trade') trades.push(row.event);
  cutFrom = trades[0]!.ts_event + 10_000;
  cutTo = trades[0]!.ts_event + 20_000;
  const publisher = new EventPublisher(bus.jetstream);
  for (const bar of spy)
    if (!missingSpy(bar)) await publishFeedEvent(publisher, feedSubject(bus.subjects, bar), bar);
  // Trades as a live ccxt feed publishes them (the adapter's ids), less 10 s, with one bad print.
  const adapter = new FileFeedAdapter(trades);
  for (const [index, trade] of trades.entries()) {
    if (trade.ts_event >= cutFrom && trade.ts_event < cutTo) continue;
    const decoded = adapter.decode(
      tradeFrame(index === SPIKE ? { ...trade, price: trade.price * 1.5 } : trade, 'stream'),
    );
    assert.ok(decoded.ok);
    for (const event of decoded.events)
      await publishFeedEvent(publisher, feedSubject(bus.subjects, event), event);
  }
  await publisher.flush();
  // A SPY bar that broke its contract, and a Binance frame that could not be mapped, as the FeedActor letters them.
  await sendToDeadLetter(publisher, bus.subjects, {
    originalSubject: bus.subjects.bar('SPY'),
    reason: 'stream frame 17: /close: Expected number',
    consumer: 'feed:alpaca:s1',
    payload: '{"c":"x"}',
    receivedAt: utc('2011-01-18T16:00Z'),
    sourceRow: 17,
  });
  await sendToDeadLetter(publisher, bus.subjects, {
    originalSubject: bus.subjects.rawFrame(FILE_FEED_PROVIDER, 'trades'),
    reason: 'stream frame 3: trade without a numeric price',
    consumer: 'feed:ccxt:binance:s1',
    payload: '{"price":"NaN"}',
    receivedAt: trades[0]!.ts_event + 5_000,
    sourceRow: 3,
  });
});

after(async () => {
  await bus?.close();
});

const btcWindow = () => ({ fromMs: trades[0]!.ts_event, toMs: trades.at(-1)!.ts_event + 1 });

describe('feed check', () => {
  it('reports the SPY minutes taken out, per day, and the rejected bar', async () => {
    const report = await feedCheckReport({
      ...bus,
      symbols: ['SPY'],
      ...JANUARY,
      integrity: integrityOptions,
    });
    const kept = spy.filter((bar) => !missingSpy(bar) && bar.ts_event < JANUARY.toMs);
    assert.deepEqual(report.totals, {
      events: kept.length,
      gaps: 2,
      missingBars: 11,
      priceJumps: 0,
      rejects: 1,
    });
    const day18 = report.days.find((day) => day.day === '2011-01-18')!;
    assert.deepEqual(day18.gaps, [
      {
        symbol: 'SPY',
        channel: 'bars',
        fromMs: utc('2011-01-18T15:00Z'),
        toMs: utc('2011-01-18T15:10Z'),
        missingBars: 10,
      },
    ]);
    assert.deepEqual(day18.rejects, { 'contract: /close': 1 });
    assert.equal(report.days.find((day) => day.day === '2011-01-25')?.missingBars, 1);
    // MLK Day is no session: not a day of the report, not a gap.
    assert.equal(
      report.days.find((day) => day.day === '2011-01-17'),
      undefined,
    );
    const text = formatFeedCheckText(report);
    assert.match(text, /SPY {9}2011-01-18 +\d+ +1 +10 +0 +1 contract: \/close/);
    assert.match(text, /gap bars 2011-01-18T15:00Z \.\. 2011-01-18T15:10Z \(10 bars\)/);
    assert.deepEqual(JSON.parse(formatFeedCheckJson(report)), JSON.parse(JSON.stringify(report)));
  });

  it('reports the Binance silence, the bad print out and back, and the unmappable frame', async () => {
    const report = await feedCheckReport({
      ...bus,
      symbols: ['BTCUSDT'],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    assert.equal(report.totals.gaps, 1);
    assert.equal(report.totals.priceJumps, 2);
    const [day] = report.days;
    assert.equal(day?.day, '2021-01-08');
    assert.equal(
      day?.priceJumps[0]?.eventId,
      `${FILE_FEED_PROVIDER}:trade:BTCUSDT:${trades[SPIKE]!.trade_id}`,
    );
    assert.deepEqual(report.unattributedRejects, {
      '2021-01-08': { 'unmappable: trade without a numeric price': 1 },
    });
    const [gap] = reportGaps(report);
    assert.ok(gap!.fromMs < cutFrom && gap!.toMs >= cutTo, 'the silence spans the 10 s taken out');
  });
});

describe('feed check around the clock', () => {
  it('sees one silence across UTC midnight on a 24/7 market, not two halves under the threshold', async () => {
    // Real trades moved in time: the last before a 4-minute silence at 23:58 UTC, the next at 00:02.
    const publisher = new EventPublisher(bus.jetstream);
    const [a, b] = trades as [TradeTick, TradeTick];
    const moved = [
      {
        ...a,
        id: 'moved:1',
        symbol: 'ETHUSDT',
        ts_event: utc('2021-01-09T23:58Z'),
        ts_init: utc('2021-01-09T23:58Z'),
      },
      {
        ...b,
        id: 'moved:2',
        symbol: 'ETHUSDT',
        ts_event: utc('2021-01-10T00:02Z'),
        ts_init: utc('2021-01-10T00:02Z'),
      },
    ];
    for (const trade of moved) await publishFeedEvent(publisher, feedSubject(bus.subjects, trade), trade);
    await publisher.flush();
    const report = await feedCheckReport({
      ...bus,
      symbols: ['ETHUSDT'],
      fromMs: utc('2021-01-09T23:57Z'),
      toMs: utc('2021-01-10T00:03Z'),
      integrity: { defaultClass: 'crypto', tradeGapMs: 3 * 60_000 },
    });
    assert.deepEqual(reportGaps(report), [
      {
        symbol: 'ETHUSDT',
        channel: 'trades',
        fromMs: utc('2021-01-09T23:58Z'),
        toMs: utc('2021-01-10T00:02Z'),
      },
    ]);
  });
});

describe('catch-up jobs', () => {
  it('turns gaps into feed_backfill jobs once, runs them on a worker, and the check comes back clean', async () => {
    await applySweepTopology(bus.manager, { sweep: FEED_BACKFILL_SWEEP });
    const before = await feedCheckReport({
      ...bus,
      symbols: ['BTCUSDT'],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    const gaps = reportGaps(before);
    assert.deepEqual(await submitFeedBackfills(bus.jetstream, FILE_FEED_PROVIDER, gaps), {
      published: 1,
      duplicates: 0,
    });
    // The same gap found again by the next check: one job still.
    assert.deepEqual(await submitFeedBackfills(bus.jetstream, FILE_FEED_PROVIDER, gaps), {
      published: 0,
      duplicates: 1,
    });
    // A job whose params break the contract: failed at once, never run.
    await submitSweep(bus.jetstream, [
      sweepJob(FEED_BACKFILL_SWEEP, FEED_BACKFILL_KIND, {
        provider: 'ftp',
        symbol: 'X',
        channel: 'trades',
        fromMs: 2,
        toMs: 1,
      }),
    ]);
    assert.equal(await pendingSweepJobs(bus.manager, FEED_BACKFILL_SWEEP), 2);
    // The provider serves the full file, plus one frame it cannot map.
    const adapter = new FileFeedAdapter(trades, [{ price: 'NaN' }]);
    const summary = await runWorker({
      js: bus.jetstream,
      manager: bus.manager,
      subjects: bus.subjects,
      registry: sweepRegistry([
        feedBackfillJobRunner({
          jetstream: bus.jetstream,
          subjects: bus.subjects,
          createAdapter: async () => adapter,
        }),
      ]),
      workerId: 'test',
      sweep: FEED_BACKFILL_SWEEP,
      maxJobs: 2,
    });
    assert.deepEqual([summary.processed, summary.failed], [2, 1]);
    const results = await readSweepResults(bus.jetstream, FEED_BACKFILL_SWEEP);
    const failed = results.find((result) => result.status === 'failed');
    assert.match(failed?.error ?? '', /feed_backfill: \/provider/);
    const done = results.find((result) => result.status === 'ok')!;
    const missing = trades.filter((trade) => trade.ts_event >= cutFrom && trade.ts_event < cutTo).length;
    const [gap] = gaps;
    const inSpan = trades.filter(
      (trade) => trade.ts_event >= gap!.fromMs && trade.ts_event < gap!.toMs,
    ).length;
    assert.deepEqual(done.details, {
      frames: inSpan + 1,
      published: missing,
      // The trades at the silence's start were held already: the duplicate window drops them.
      duplicates: inSpan - missing,
      rejected: 1,
    });
    assert.equal(adapter.closed, 1);
    const afterwards = await feedCheckReport({
      ...bus,
      symbols: ['BTCUSDT'],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    assert.equal(afterwards.totals.gaps, 0);
    assert.equal(afterwards.totals.events, trades.length);
    // The backfill's unmappable frame joins the live one.
    assert.equal(
      afterwards.unattributedRejects['2021-01-08']?.['unmappable: trade without a numeric price'],
      2,
    );
  });
});
