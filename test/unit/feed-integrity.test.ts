// Feed integrity on real data: SPY minute bars of January 2011 (UTC bar-close times; every session
// minute present, MLK Day absent) give no gap until real bars are taken out, and then exactly those;
// a jump injected into real Binance trades is counted; freshness counts session time only; hostile
// events (NaN, zero, out of order) are counted, never thrown.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { nyse, twentyFourSeven } from '../../actors/feed/calendar.ts';
import { FeedIntegrity, missingBars, priceJumpAlerts, tradeSilences } from '../../actors/feed/integrity.ts';
import { readDatasetFile } from '../../core/dataset-files.ts';
import { binanceTradeFile, ninjaTraderMinuteFile } from '../../core/datasets.ts';
import type { Bar, NewsItem, TradeTick } from '../../schemas/messages.ts';

const DATA = join(import.meta.dirname, '..', '..', '..', 'shared', 'data');
const utc = (iso: string) => Date.parse(iso);
const MINUTE = 60_000;

let spy: Bar[] = [];
const trades: TradeTick[] = [];

before(async () => {
  for await (const row of readDatasetFile(
    ninjaTraderMinuteFile(join(DATA, 'spy-minute-pyalgotrade', 'ninjatrader_spy_minute_2011-01.csv')),
  ))
    if (row.kind === 'bar') spy.push(row.event);
  for await (const row of readDatasetFile(
    binanceTradeFile(join(DATA, 'binance-btcusdt-ticks', 'btcusdt_trades_2021-01-08.csv')),
  ))
    if (row.kind === 'trade') trades.push(row.event);
  spy = spy.sort((a, b) => a.ts_event - b.ts_event);
});

const JANUARY = [utc('2011-01-01T00:00Z'), utc('2011-02-01T00:00Z')] as const;
const starts = (bars: readonly Bar[]) => bars.map((bar) => bar.ts_event - MINUTE);
/** Real bars taken out: 10 minutes mid-morning on 2011-01-18, and the last bar of 2011-01-25. */
const removed = (bar: Bar) =>
  (bar.ts_event > utc('2011-01-18T15:00Z') && bar.ts_event <= utc('2011-01-18T15:10Z')) ||
  bar.ts_event === utc('2011-01-25T21:00Z') ||
  // Pre-market bars: outside the session, so taking them out is no gap.
  (bar.ts_event > utc('2011-01-19T13:00Z') && bar.ts_event <= utc('2011-01-19T14:00Z'));

describe('gap detection', () => {
  it('finds no gap in January 2011 SPY bars: 20 sessions x 390 minutes all present, MLK Day closed', () => {
    assert.equal(spy.length, 14_180);
    assert.deepEqual(missingBars(nyse, 'SPY', starts(spy), ...JANUARY, MINUTE), []);
  });

  it('finds exactly the session minutes taken out of the real file', () => {
    const kept = spy.filter((bar) => !removed(bar));
    assert.ok(spy.length - kept.length > 11, 'pre-market bars were taken out too');
    assert.deepEqual(missingBars(nyse, 'SPY', starts(kept), ...JANUARY, MINUTE), [
      {
        symbol: 'SPY',
        channel: 'bars',
        fromMs: utc('2011-01-18T15:00Z'),
        toMs: utc('2011-01-18T15:10Z'),
        missingBars: 10,
      },
      {
        symbol: 'SPY',
        channel: 'bars',
        fromMs: utc('2011-01-25T20:59Z'),
        toMs: utc('2011-01-25T21:00Z'),
        missingBars: 1,
      },
    ]);
  });

  it('reports the same gaps live, bar by bar, and no price jump in real SPY bars', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'equity' });
    const gaps = spy.filter((bar) => !removed(bar)).flatMap((bar) => integrity.observe(bar).gap ?? []);
    assert.deepEqual(
      gaps.map((gap) => [new Date(gap.fromMs).toISOString(), gap.missingBars]),
      [
        ['2011-01-18T15:00:00.000Z', 10],
        // The last bar of the 25th is found missing when the next bar (after hours) arrives.
        ['2011-01-25T20:59:00.000Z', 1],
      ],
    );
    assert.equal(integrity.summary().priceJumps, 0);
    assert.equal(integrity.summary().missingBars, 11);
  });

  it('finds a silence in real Binance trades only where trades were taken out', () => {
    const times = trades.map((trade) => trade.ts_event);
    const [from, to] = [times[0]!, times.at(-1)! + 1];
    assert.deepEqual(tradeSilences(twentyFourSeven, 'BTCUSDT', times, from, to, 2_000), []);
    const cut = times.filter((time) => time < from + 10_000 || time >= from + 20_000);
    const before10 = cut.filter((time) => time < from + 10_000).at(-1)!;
    const after20 = cut.find((time) => time >= from + 20_000)!;
    assert.deepEqual(tradeSilences(twentyFourSeven, 'BTCUSDT', cut, from, to, 2_000), [
      { symbol: 'BTCUSDT', channel: 'trades', fromMs: before10, toMs: after20 },
    ]);
    // Live: the trade after the silence reports it.
    const integrity = new FeedIntegrity({ defaultClass: 'crypto', tradeGapMs: 2_000 });
    const live = trades
      .filter((trade) => cut.includes(trade.ts_event))
      .flatMap((trade) => integrity.observe(trade).gap ?? []);
    assert.deepEqual(live, [{ symbol: 'BTCUSDT', channel: 'trades', fromMs: before10, toMs: after20 }]);
  });

  it('does not call a night or a holiday weekend a trade silence on NYSE', () => {
    const friday = utc('2011-01-14T20:59Z');
    const tuesday = utc('2011-01-18T14:30:30Z');
    assert.deepEqual(tradeSilences(nyse, 'SPY', [friday, tuesday], friday, tuesday + 1, 5 * MINUTE), []);
    assert.equal(tradeSilences(nyse, 'SPY', [friday, tuesday], friday, tuesday + 1, 60_000).length, 1);
  });
});

describe('price jumps', () => {
  it('counts a jump injected into real Binance trades and still reports every event', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'crypto' });
    const spike = 1000;
    const input = trades.map((trade, index) =>
      index === spike ? { ...trade, price: trade.price * 1.5 } : trade,
    );
    const jumps = input.flatMap((trade) => integrity.observe(trade).priceJump ?? []);
    // A lone bad print jumps out and back: two alerts, the second at the next real trade.
    assert.equal(jumps.length, 2);
    assert.equal(jumps[0]?.eventId, trades[spike]?.id);
    assert.ok(Math.abs(jumps[0]!.change - 0.5) < 0.01);
    assert.equal(jumps[0]?.threshold, 0.2);
    assert.equal(jumps[1]?.eventId, trades[spike + 1]?.id);
    assert.equal(integrity.summary().observed, trades.length);
  });

  it('takes the threshold from the symbol class: 15 % is a jump for an equity, not for crypto', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'equity', symbolClasses: { BTCUSDT: 'crypto' } });
    const [first, second] = trades as [TradeTick, TradeTick];
    const moved = { ...second, price: first.price * 1.15 };
    integrity.observe(first);
    assert.equal(integrity.observe(moved).priceJump, undefined);
    integrity.observe({ ...first, symbol: 'SPY' });
    assert.equal(integrity.observe({ ...moved, symbol: 'SPY' }).priceJump?.threshold, 0.1);
    assert.throws(() => new FeedIntegrity({ defaultClass: 'fx' }), /asset class "fx" has no rule/);
  });
});

describe('hostile events', () => {
  it('counts NaN, zero and infinite values as invalid and out-of-order times, without throwing', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'crypto' });
    const [a, b, c] = trades as [TradeTick, TradeTick, TradeTick];
    integrity.observe(b);
    assert.ok(integrity.observe({ ...c, price: Number.NaN }).invalid?.startsWith('price'));
    assert.ok(integrity.observe({ ...c, price: 0 }).invalid);
    assert.ok(
      integrity.observe({ ...c, ts_event: Number.POSITIVE_INFINITY }).invalid?.startsWith('ts_event'),
    );
    // Out of order: reported, checked against the reference, moves nothing.
    const late = integrity.observe({ ...a, price: a.price * 2 });
    assert.equal(late.outOfOrder, true);
    assert.ok(late.priceJump);
    assert.equal(integrity.observe(c).priceJump, undefined, 'the reference is still b');
    // News carries no price; a bar of an unknown interval is checked for jumps, not gaps.
    const news: NewsItem = {
      schema: 'news_item.v1',
      id: 'n1',
      ts_event: c.ts_event,
      ts_init: c.ts_init,
      symbol: 'BTCUSDT',
      headline: 'h',
      source: 's',
    };
    assert.deepEqual(integrity.observe(news), {});
    const bar = { ...spy[0]!, interval: 'weekly' };
    integrity.observe(bar);
    assert.deepEqual(integrity.observe({ ...bar, ts_event: bar.ts_event + 3_600_000 }), {});
    assert.deepEqual(integrity.summary(), {
      observed: 9,
      priceJumps: 1,
      gaps: 0,
      missingBars: 0,
      invalid: 3,
      outOfOrder: 1,
    });
  });
});

describe('freshness', () => {
  it('counts only session time: stale 60 s into the Tuesday after MLK Day, never over the weekend', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'equity', staleAfterMs: 60_000 });
    integrity.watch(['SPY', 'QQQ'], utc('2011-01-14T20:59:30Z'));
    const last = spy.find((bar) => bar.ts_event === utc('2011-01-14T20:59Z'))!;
    integrity.observe({ ...last, ts_event: utc('2011-01-14T20:59:30Z') });
    assert.deepEqual(integrity.staleSymbols(utc('2011-01-15T12:00Z')), [], 'Saturday: closed');
    assert.deepEqual(integrity.staleSymbols(utc('2011-01-17T16:00Z')), [], 'MLK Day: closed');
    // 30 s on Friday + 20 s on Tuesday = 50 s.
    assert.deepEqual(integrity.staleSymbols(utc('2011-01-18T14:30:20Z')), []);
    assert.deepEqual(integrity.staleSymbols(utc('2011-01-18T14:30:31Z')), ['QQQ', 'SPY']);
  });

  it('a crypto symbol goes stale around the clock, and an event makes it fresh again', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'crypto', staleAfterMs: 10_000 });
    const [first] = trades as [TradeTick];
    integrity.observe(first);
    assert.deepEqual(integrity.staleSymbols(first.ts_event + 10_000), []);
    assert.deepEqual(integrity.staleSymbols(first.ts_event + 10_001), ['BTCUSDT']);
    integrity.observe({ ...first, ts_event: first.ts_event + 10_001 });
    assert.deepEqual(integrity.staleSymbols(first.ts_event + 10_002), []);
  });
});

describe('the FeedActor options', () => {
  it('gives a jump as an alert message and the trading time of the watched symbols', () => {
    const integrity = new FeedIntegrity({ defaultClass: 'equity' });
    const alerts = priceJumpAlerts(integrity);
    const [first, second] = trades as [TradeTick, TradeTick];
    assert.equal(alerts.observe({ ...first, symbol: 'SPY' }), undefined);
    assert.equal(
      alerts.observe({ ...second, symbol: 'SPY', price: first.price * 1.25 }),
      `trade ${first.price} -> ${first.price * 1.25} (+25.0 %, threshold 10.0 %) at ${new Date(second.ts_event).toISOString()}`,
    );
    // 2021-01-08 00:00Z is a Thursday night in New York: SPY's market is closed.
    assert.equal(integrity.isTradingTime(first.ts_event), false);
    assert.equal(integrity.isTradingTime(utc('2021-01-08T15:00Z')), true);
    const mixed = new FeedIntegrity({ defaultClass: 'equity', symbolClasses: { BTCUSDT: 'crypto' } });
    mixed.watch(['SPY', 'BTCUSDT'], first.ts_event);
    assert.equal(mixed.isTradingTime(first.ts_event), true, 'crypto trades at night');
  });
});
