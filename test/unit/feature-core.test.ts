// FeatureCore: point in time, the bad-input policy (counted, never thrown), tick bars, news features.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { BarAggregator, parseDuration } from '../../actors/feature/bars.ts';
import { FeatureCore, type FeatureRow } from '../../actors/feature/core.ts';
import { readMarketCsv } from '../../actors/feature/csv.ts';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../actors/feature/feature-set.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Bar, NewsItem, QuoteTick, SentimentScore, TradeTick } from '../../schemas/messages.ts';

const DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');
const HOUR = 3_600_000;

const aapl = (() => {
  const input = readMarketCsv(join(DATA, 'stocknet/price_raw/AAPL.csv'), { symbol: 'AAPL' });
  assert.equal(input.kind, 'bars');
  return input.kind === 'bars' ? input.bars.slice(0, 120) : [];
})();

const news = (symbol: string, ts: number, n: number): NewsItem => ({
  schema: 'news_item.v1',
  id: `n${n}`,
  ts_event: ts,
  ts_init: ts,
  symbol,
  headline: `headline ${n}`,
  source: 'test',
});

const sentiment = (symbol: string, ts: number, score: number, confidence: number): SentimentScore => ({
  schema: 'sentiment_score.v1',
  id: `s${ts}`,
  ts_event: ts,
  ts_init: ts,
  symbol,
  label: score > 0 ? 'bullish' : 'bearish',
  score,
  confidence,
  model_version: 'test',
});

const trade = (ts: number, price: number, size: number, id?: string): TradeTick => ({
  schema: 'trade_tick.v1',
  id: `t${ts}:${id}`,
  ts_event: ts,
  ts_init: ts,
  symbol: 'BTC',
  price,
  size,
  aggressor: 'unknown',
  ...(id === undefined ? {} : { trade_id: id }),
});

type Event = { bar: Bar } | { news: NewsItem } | { sentiment: SentimentScore } | { trade: TradeTick };

function replay(core: FeatureCore, events: readonly Event[]): FeatureRow[] {
  const rows: FeatureRow[] = [];
  for (const event of events) {
    let row: FeatureRow | null = null;
    if ('bar' in event) row = core.onBar(event.bar);
    else if ('trade' in event) row = core.onTrade(event.trade);
    else if ('news' in event) core.onNews(event.news);
    else core.onSentiment(event.sentiment);
    if (row) rows.push(row);
  }
  return rows;
}

test('point in time: events stamped after t change no row at or before t', () => {
  // News and sentiment in event order, a few per day, for AAPL.
  const base: Event[] = [];
  aapl.forEach((bar, i) => {
    if (i % 3 === 0) base.push({ news: news('AAPL', bar.ts_event - 5 * HOUR, i) });
    if (i % 4 === 0)
      base.push({ sentiment: sentiment('AAPL', bar.ts_event - 2 * HOUR, ((i % 7) - 3) / 3, 0.9) });
    base.push({ bar });
  });
  const cut = aapl[60]!.ts_event;
  // The same stream, plus future-stamped events that ARRIVE EARLY (right at the start), and a
  // future bar that arrives early and is then rejected as out of order.
  const future: Event[] = [
    { news: news('AAPL', cut + 1, 1000) },
    { sentiment: sentiment('AAPL', cut + 1, -1, 1) },
    { sentiment: sentiment('AAPL', cut + 10 * HOUR, 1, 1) },
  ];
  const withFuture = [...future, ...base];
  const clean = replay(new FeatureCore({ set: DEFAULT_FEATURE_SET }), base);
  const perturbed = replay(new FeatureCore({ set: DEFAULT_FEATURE_SET }), withFuture);
  const upToCut = (rows: FeatureRow[]) => rows.filter((row) => row.ts_event <= cut);
  assert.equal(upToCut(clean).length, 61);
  assert.deepEqual(upToCut(perturbed), upToCut(clean));
  // The future events do count once their time has come.
  const after = (rows: FeatureRow[]) => rows.find((row) => row.ts_event > cut)!.values;
  assert.notDeepEqual(after(perturbed), after(clean));

  // Ticks: a trade stamped in a later bucket closes the bar but cannot alter it.
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET, barInterval: '1s' });
  replay(core, [{ trade: trade(1_000, 10, 1) }, { trade: trade(1_500, 12, 1) }]);
  const closed = core.onTrade(trade(2_000, 99, 50));
  assert.equal(closed?.ts_event, 2_000);
  assert.equal(closed?.values.VWAP_D, (12 + 10 + 12) / 3); // one bar: high 12, low 10, close 12
});

test('bad bars and ticks are rejected, counted, and leave the state untouched', () => {
  const clean = replay(
    new FeatureCore({ set: DEFAULT_FEATURE_SET }),
    aapl.map((bar) => ({ bar })),
  );
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  const rows: FeatureRow[] = [];
  aapl.forEach((bar, i) => {
    const row = core.onBar(bar);
    if (row) rows.push(row);
    if (i === 30) {
      const bad: Bar[] = [
        { ...bar, ts_event: bar.ts_event + 1, close: Number.NaN },
        { ...bar, ts_event: bar.ts_event + 1, low: bar.high + 1 },
        { ...bar, ts_event: bar.ts_event + 1, volume: -1 },
        { ...bar, ts_event: bar.ts_event + 1, open: 0, low: 0 },
        { ...bar, ts_event: bar.ts_event + 1, close: bar.high * 2 },
        { ...bar, ts_event: bar.ts_event + 1, high: Number.POSITIVE_INFINITY },
      ];
      for (const b of bad) assert.equal(core.onBar(b), null);
      assert.equal(core.onBar({ ...bar, close: bar.low }), null); // same ts: duplicate
      assert.equal(core.onBar(aapl[10]!), null); // earlier: out of order
    }
  });
  assert.deepEqual(rows, clean);
  assert.deepEqual(
    { ...core.counters },
    {
      bars: aapl.length,
      ticks: 0,
      news: 0,
      sentiment: 0,
      rejected_invalid: 6,
      rejected_out_of_order: 1,
      rejected_duplicate: 1,
      news_late: 0,
    },
  );

  const ticks = new FeatureCore({ set: DEFAULT_FEATURE_SET, barInterval: '1s' });
  const quote = (ts: number, bid: number, ask: number): QuoteTick => ({
    schema: 'quote_tick.v1',
    id: `q${ts}`,
    ts_event: ts,
    ts_init: ts,
    symbol: 'EURUSD',
    bid,
    ask,
    bid_size: 1,
    ask_size: 1,
  });
  replay(ticks, [
    { trade: trade(1_000, 10, 1, 'a') },
    { trade: trade(1_100, 10, 1, 'a') }, // duplicate trade id
    { trade: trade(1_200, Number.NaN, 1, 'b') }, // invalid
    { trade: trade(1_300, -5, 1, 'c') }, // invalid
    { trade: trade(1_400, 10, -1, 'd') }, // invalid
    { trade: trade(2_500, 11, 1, 'e') }, // closes the first bar
    { trade: trade(1_900, 10, 1, 'f') }, // late: its bar is closed
    { trade: trade(2_100, 12, 1, 'g') }, // earlier than 'e' but same open bar: accepted
  ]);
  assert.equal(ticks.onQuote(quote(1_000, 1.2, 1.1)), null); // crossed
  assert.equal(ticks.onQuote(quote(1_000, 1.1, 1.2)), null); // opens a bar
  const [btc, eurusd] = ticks.flushUntil(3_000);
  assert.equal(btc?.ts_event, 3_000);
  assert.equal(eurusd?.ts_event, 2_000);
  // OBV seeds on the first bar's volume (1); this bar closes up at 11 (latest-stamped tick) and adds 2.
  assert.equal(btc?.values.OBV, 3);
  const c = ticks.counters;
  assert.deepEqual(
    [c.ticks, c.rejected_invalid, c.rejected_duplicate, c.rejected_out_of_order],
    [4, 4, 1, 1],
  );
});

test('a repeated trade id is a duplicate within its bar, in any order and of any length, and not after', () => {
  // Ids drawn from a small alphabet so repeats, orders and lengths mix; a set is the reference.
  const id = fc.stringMatching(/^[0-9a]{1,3}$/);
  const bars = fc.array(fc.array(id, { maxLength: 40 }), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(bars, (idsPerBar) => {
      const aggregator = new BarAggregator('BTCUSDT', '1s');
      idsPerBar.forEach((ids, bar) => {
        const seen = new Set<string>();
        ids.forEach((tradeId, index) => {
          const ts = bar * 1_000 + index;
          const outcome = aggregator.onTrade({ ...trade(ts, 10, 1, tradeId), symbol: 'BTCUSDT' });
          assert.equal(outcome, seen.has(tradeId) ? 'duplicate' : 'accepted', `bar ${bar} id ${tradeId}`);
          seen.add(tradeId);
        });
      });
    }),
  );
});

test('a trade without trade_id repeated (no Nats-Msg-Id upstream) counts once, by its event id; one re-sent under a new event id, by its trade_id', () => {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET, barInterval: '1s' });
  const plain = trade(1_100, 10, 2);
  const tagged = trade(1_200, 11, 3, 'x7');
  replay(core, [
    { trade: plain },
    { trade: { ...plain } }, // the same message again
    { trade: tagged },
    { trade: { ...tagged, id: 'resent:x7' } }, // the venue's trade again under another event id
    { trade: trade(1_300, 12, 4) },
  ]);
  assert.equal(core.lastRejection, null);
  const closed = core.onTrade(trade(2_000, 13, 1));
  assert.equal(core.lastAggregatedBar('BTC')?.volume, 2 + 3 + 4);
  assert.equal(closed?.ts_event, 2_000);
  assert.equal(core.counters.rejected_duplicate, 2);
  assert.deepEqual(core.rejections(), [{ symbol: 'BTC', reason: 'duplicate', count: 2 }]);
});

test('trade ids: bounded memory, a repeat within the last tradeIdMemory trades of the bar is always caught', () => {
  // Ids from a small alphabet, with and without trade_id, against a list of the bar's accepted ids:
  // never seen in the bar -> accepted; seen among its last `memory` -> duplicate; older -> either
  // (RecentIds keeps up to twice the memory).
  const memory = 4;
  const tick = fc.record({ id: fc.stringMatching(/^[0-9a]{1,2}$/), tagged: fc.boolean() });
  const bars = fc.array(fc.array(tick, { maxLength: 60 }), { minLength: 1, maxLength: 3 });
  fc.assert(
    fc.property(bars, (ticksPerBar) => {
      const aggregator = new BarAggregator('BTCUSDT', '1s', memory);
      ticksPerBar.forEach((ticks, bar) => {
        const accepted: string[] = [];
        ticks.forEach(({ id, tagged }, index) => {
          const ts = bar * 1_000 + index;
          const key = `${tagged}:${id}`;
          const tick = { ...trade(ts, 10, 1, tagged ? id : undefined), symbol: 'BTCUSDT', id };
          const outcome = aggregator.onTrade(tick);
          const at = accepted.lastIndexOf(key);
          if (at < 0) assert.equal(outcome, 'accepted', `bar ${bar}: ${key} is new`);
          else if (at >= accepted.length - memory)
            assert.equal(outcome, 'duplicate', `bar ${bar}: ${key} among the last ${memory}`);
          if (outcome === 'accepted') accepted.push(key);
        });
      });
    }),
  );
});

test('rejections by symbol and reason; lastRejection says whether the event just given was rejected', () => {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  const [first, second] = aapl;
  core.onBar(second!);
  assert.equal(core.lastRejection, null);
  core.onBar(first!);
  assert.equal(core.lastRejection, 'out_of_order');
  core.onBar({ ...second!, id: 'again' });
  assert.equal(core.lastRejection, 'duplicate');
  core.onBar({ ...second!, symbol: 'MSFT', low: second!.high + 1 });
  assert.equal(core.lastRejection, 'invalid');
  core.onNews(news('MSFT', Number.NaN, 1));
  core.onNews(news('MSFT', second!.ts_event, 2));
  assert.equal(core.lastRejection, null);
  core.onBar(first!);
  assert.deepEqual(
    core.rejections().sort((a, b) => `${a.symbol}${a.reason}`.localeCompare(`${b.symbol}${b.reason}`)),
    [
      { symbol: 'AAPL', reason: 'duplicate', count: 1 },
      { symbol: 'AAPL', reason: 'out_of_order', count: 2 },
      { symbol: 'MSFT', reason: 'invalid', count: 2 },
    ],
  );
  const { rejected_invalid, rejected_out_of_order, rejected_duplicate } = core.counters;
  assert.deepEqual([rejected_invalid, rejected_out_of_order, rejected_duplicate], [2, 2, 1]);
});

test('news count (trailing window) and decayed sentiment average follow their definitions', () => {
  const set = defineFeatureSet({
    ...DEFAULT_FEATURE_SET,
    name: 'news-test',
    news: { countWindow: '2d', sentimentHalfLife: '12h' },
  });
  const core = new FeatureCore({ set });
  const events: Event[] = [];
  const newsTimes: number[] = [];
  const scores: { ts: number; score: number; confidence: number }[] = [];
  aapl.slice(0, 40).forEach((bar, i) => {
    for (let k = 0; k < i % 3; k++) {
      const ts = bar.ts_event - (k + 1) * 7 * HOUR;
      newsTimes.push(ts);
      events.push({ news: news('AAPL', ts, i * 10 + k) });
      const s = { ts: ts + HOUR, score: Math.sin(i + k), confidence: 0.5 + (k % 2) / 2 };
      scores.push(s);
      events.push({ sentiment: sentiment('AAPL', s.ts, s.score, s.confidence) });
    }
    events.push({ bar });
  });
  for (const row of replay(core, events)) {
    const t = row.ts_event;
    const count = newsTimes.filter((ts) => ts <= t && ts > t - 2 * 24 * HOUR).length;
    assert.equal(row.values.NEWS_COUNT_2d, count);
    let num = 0;
    let den = 0;
    for (const s of scores.filter((s) => s.ts <= t)) {
      const w = s.confidence * 2 ** (-(t - s.ts) / (12 * HOUR));
      num += w * s.score;
      den += w;
    }
    const expected = den > 0 ? num / den : 0;
    assert.ok(Math.abs(row.values.SENT_EWM_12h! - expected) <= 1e-9, `sentiment at ${t}`);
  }
  assert.equal(core.counters.news, newsTimes.length);
  assert.notEqual(set.version, DEFAULT_FEATURE_SET.version);
});

test('warm-up tracking, versioning and config errors', () => {
  const core = new FeatureCore({ set: DEFAULT_FEATURE_SET });
  let firstWarm = -1;
  aapl.forEach((bar, i) => {
    const row = core.onBar(bar)!;
    const allValues = Object.values(row.values).every((v) => v !== null);
    assert.equal(row.warm, allValues);
    assert.equal(row.feature_set_version, DEFAULT_FEATURE_SET.version);
    if (row.warm && firstWarm < 0) firstWarm = i;
  });
  assert.equal(firstWarm + 1, DEFAULT_FEATURE_SET.warmupBars);
  assert.equal(DEFAULT_FEATURE_SET.warmupBars, 34); // MACD 12/26/9 is the longest
  assert.ok(core.allWarm());
  assert.match(DEFAULT_FEATURE_SET.version, /^[0-9a-f]{64}$/);
  assert.equal(defineFeatureSet({ ...DEFAULT_FEATURE_SET }).version, DEFAULT_FEATURE_SET.version);
  assert.equal(parseDuration('15m', 'x'), 900_000);
  assert.throws(() => parseDuration('1w', 'interval'), ConfigError);
  assert.throws(() => new FeatureCore({ set: DEFAULT_FEATURE_SET, barInterval: 'soon' }), ConfigError);
  assert.throws(
    () => defineFeatureSet({ ...DEFAULT_FEATURE_SET, indicators: [{ kind: 'sma', period: 0 }] }),
    /indicator sma\.period/,
  );
});
