// The feed's data-integrity loop over a real nats-server: real SPY minute bars with parts taken out, and
// the real BTCUSDT trades the ccxt adapter receives from the Binance loopback server (a bad print on the
// tape) less 10 s of them, are published to MARKET, dead letters to DEADLETTER; the feed check reports
// exactly those gaps, jumps and rejects per symbol and day; the gaps become feed_backfill jobs (the same
// gap twice is one job), a worker runs them with the real ccxt adapter over the server's REST, and the
// check comes back clean.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { feedEventId, type RawFrame } from '../../actors/feed/adapter.ts';
import { CcxtFeedAdapter } from '../../actors/feed/adapters/ccxt.ts';
import { feedSubject, publishFeedEvent } from '../../actors/feed/publish.ts';
import { type Clock, ReplayClock, WallClock } from '../../core/clock.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { ninjaTraderMinuteFile } from '../../core/datasets.ts';
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
import { BinanceLoopback, loadSourceTrades } from '../support/loopback/binance.ts';
import { until } from '../support/wait.ts';

const DATA = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');
const utc = (iso: string) => Date.parse(iso);
const JANUARY = { fromMs: utc('2011-01-01T00:00Z'), toMs: utc('2011-02-01T00:00Z') };

const PROVIDER = 'ccxt:binance';
const BTC = 'BTC/USDT';

let bus: TestBus;
let binance: BinanceLoopback;
const spy: Bar[] = [];
/** The whole tape as the ccxt adapter decodes the live frames. */
const trades: TradeTick[] = [];
/** Trades of the 10 s kept out of MARKET, and the bad print. */
let cutFrom = 0;
let cutTo = 0;
const SPIKE = 1500;

/** The real ccxt adapter against the loopback server (historicalTrades wants any API key). */
class LoopbackCcxtAdapter extends CcxtFeedAdapter {
  closed = 0;
  constructor(server: BinanceLoopback, clock: Clock = new WallClock()) {
    super({
      exchange: 'binance',
      clock,
      urls: { rest: server.restUrl, ws: server.wsUrl },
      credentials: { apiKey: 'loopback-read-only-key' },
    });
  }
  override async close(): Promise<void> {
    this.closed++;
    await super.close();
  }
}

const missingSpy = (bar: Bar) =>
  (bar.ts_event > utc('2011-01-18T15:00Z') && bar.ts_event <= utc('2011-01-18T15:10Z')) ||
  bar.ts_event === utc('2011-01-25T21:00Z');

const integrityOptions = { defaultClass: 'equity', symbolClasses: { [BTC]: 'crypto' }, tradeGapMs: 2_000 };

before(async () => {
  bus = await startTestBus();
  for await (const row of readDatasetFile(
    ninjaTraderMinuteFile(join(DATA, 'spy-minute-pyalgotrade', 'ninjatrader_spy_minute_2011-01.csv')),
  ))
    if (row.kind === 'bar') spy.push(row.event);
  // The exchange's tape holds one bad print: a real trade at 1.5 times its price.
  const tape = loadSourceTrades().map((trade, index) =>
    index === SPIKE ? { ...trade, price: (Number(trade.price) * 1.5).toFixed(2) } : trade,
  );
  binance = await BinanceLoopback.start({ trades: tape, tradesPerSecond: 0 });
  const publisher = new EventPublisher(bus.jetstream);
  for (const bar of spy)
    if (!missingSpy(bar)) await publishFeedEvent(publisher, feedSubject(bus.subjects, bar), bar);
  // The whole tape prints (REST serves only printed trades) while the real adapter takes it off the
  // socket; then a hostile frame: a trade without a valid price.
  const live = new LoopbackCcxtAdapter(binance);
  const frames: RawFrame[] = [];
  await live.connect();
  await live.subscribe({ symbols: [BTC], channels: ['trades'], onFrame: (frame) => frames.push(frame) });
  await binance.allPrinted();
  await until('every trade frame', () => frames.length >= tape.length);
  binance.inject({ ...binance.tradeFrame(tape[3]!), p: 'NaN' });
  await until('the hostile frame', () => frames.length > tape.length);
  await live.close();
  const decoded = frames.map((frame) => live.decode(frame));
  for (const result of decoded.slice(0, tape.length)) {
    assert.ok(result.ok);
    trades.push(result.events[0] as TradeTick);
  }
  cutFrom = trades[0]!.ts_event + 10_000;
  cutTo = trades[0]!.ts_event + 20_000;
  // What a live feed publishes, less 10 s of trades: the stream went silent there.
  for (const trade of trades)
    if (trade.ts_event < cutFrom || trade.ts_event >= cutTo)
      await publishFeedEvent(publisher, feedSubject(bus.subjects, trade), trade);
  await publisher.flush();
  const hostile = decoded[tape.length]!;
  assert.ok(!hostile.ok);
  // A SPY bar that broke its contract, and the Binance frame that could not be mapped, as the FeedActor letters them.
  await sendToDeadLetter(publisher, bus.subjects, {
    originalSubject: bus.subjects.bar('SPY'),
    reason: 'stream frame 17: /close: Expected number',
    consumer: 'feed:alpaca:s1',
    payload: '{"c":"x"}',
    receivedAt: utc('2011-01-18T16:00Z'),
    sourceRow: 17,
  });
  await sendToDeadLetter(publisher, bus.subjects, {
    originalSubject: bus.subjects.rawFrame(PROVIDER, 'trades'),
    reason: `stream frame ${tape.length}: ${hostile.reason}`,
    consumer: 'feed:ccxt:binance:s1',
    payload: JSON.stringify(frames[tape.length]!.payload),
    receivedAt: trades[0]!.ts_event + 5_000,
    sourceRow: tape.length,
  });
});

after(async () => {
  await binance?.close();
  await bus?.close();
});

/** The reason both hostile frames get, live and over REST, from the adapter's decode. */
const UNMAPPABLE = 'unmappable: trade price missing, not a number or not positive';

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
      symbols: [BTC],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    assert.equal(report.totals.gaps, 1);
    assert.equal(report.totals.priceJumps, 2);
    const [day] = report.days;
    assert.equal(day?.day, '2021-01-08');
    assert.equal(day?.priceJumps[0]?.eventId, feedEventId(PROVIDER, 'trade', BTC, trades[SPIKE]!.trade_id!));
    assert.deepEqual(report.unattributedRejects, {
      '2021-01-08': { [UNMAPPABLE]: 1 },
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
      symbols: [BTC],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    const gaps = reportGaps(before);
    assert.deepEqual(await submitFeedBackfills(bus.jetstream, PROVIDER, gaps), {
      published: 1,
      duplicates: 0,
    });
    // The same gap found again by the next check: one job still.
    assert.deepEqual(await submitFeedBackfills(bus.jetstream, PROVIDER, gaps), {
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
    // The server's REST serves the whole printed tape, one trade of it corrupt: one the stream
    // delivered already, at the silence's start.
    const [gap] = gaps;
    const corrupt = trades.find((trade) => trade.ts_event >= gap!.fromMs)!;
    assert.ok(corrupt.ts_event < cutFrom);
    binance.corruptRestTrade(Number(corrupt.trade_id));
    // The worker runs on the tape's day, just after it: its dead letters are dated then.
    const adapter = new LoopbackCcxtAdapter(binance, new ReplayClock(trades.at(-1)!.ts_event));
    const summary = await runWorker({
      js: bus.jetstream,
      manager: bus.manager,
      subjects: bus.subjects,
      registry: sweepRegistry([
        feedBackfillJobRunner({
          jetstream: bus.jetstream,
          subjects: bus.subjects,
          createAdapter: async (provider) => {
            assert.equal(provider, PROVIDER);
            return adapter;
          },
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
    const inSpan = trades.filter(
      (trade) => trade.ts_event >= gap!.fromMs && trade.ts_event < gap!.toMs,
    ).length;
    assert.deepEqual(done.details, {
      frames: inSpan,
      published: missing,
      // The trades at the silence's start were held already: the duplicate window drops them (all
      // but the corrupt one, dead-lettered).
      duplicates: inSpan - missing - 1,
      rejected: 1,
    });
    assert.equal(adapter.closed, 1);
    const afterwards = await feedCheckReport({
      ...bus,
      symbols: [BTC],
      ...btcWindow(),
      integrity: integrityOptions,
    });
    assert.equal(afterwards.totals.gaps, 0);
    assert.equal(afterwards.totals.events, trades.length);
    // The backfill's unmappable frame joins the live one.
    assert.equal(afterwards.unattributedRejects['2021-01-08']?.[UNMAPPABLE], 2);
  });
});
