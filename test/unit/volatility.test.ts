// The rolling volatility the labels are scaled by and the one the risk gate scales barrier exits by are
// one estimator: fed bar by bar as the gate feeds it, it gives the batch values the labels use, on
// real daily bars (stocknet AAPL from ../shared/data), and both are the sample standard deviation of
// the window's log returns.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BarrierExits } from '../../actors/risk/barrier-exits.ts';
import { parseDatasetText, stocknetPriceFile } from '../../core/datasets.ts';
import { barrierPrices } from '../../core/triple-barrier.ts';
import { RollingVolatility, rollingVolatility } from '../../core/volatility.ts';
import type { Bar } from '../../schemas/messages.ts';
import { tripleBarrierLabels } from '../../simulations/research/labels.ts';
import { sharedDataDir } from '../support/cli.ts';

function realBars(symbol: string): Bar[] {
  const path = join(sharedDataDir, 'stocknet', 'price_raw', `${symbol}.csv`);
  const bars: Bar[] = [];
  for (const row of parseDatasetText(stocknetPriceFile(path), readFileSync(path, 'utf8')))
    if (row.kind === 'bar') bars.push(row.event);
  return bars;
}

/** The sample standard deviation of log returns closes[t-window..t], from first principles. */
function twoPass(closes: readonly number[], t: number, window: number): number {
  const returns: number[] = [];
  for (let i = t - window + 1; i <= t; i++) returns.push(Math.log(closes[i]! / closes[i - 1]!));
  const mean = returns.reduce((a, b) => a + b, 0) / window;
  return Math.sqrt(returns.reduce((a, r) => a + (r - mean) ** 2, 0) / (window - 1));
}

describe('rolling volatility', () => {
  const bars = realBars('AAPL');
  const closes = bars.map((bar) => bar.close);

  it('incremental, bar by bar, equals the batch values the labels use, exactly', () => {
    assert.ok(closes.length > 1200, `${closes.length} bars`);
    for (const window of [2, 5, 20, 60]) {
      const batch = rollingVolatility(closes, window);
      const incremental = new RollingVolatility(window);
      closes.forEach((close, t) => {
        const value = incremental.push(close);
        if (t < window) {
          assert.ok(
            Number.isNaN(value) && Number.isNaN(batch[t]!),
            `t ${t}: no value before ${window} returns`,
          );
          assert.equal(incremental.missing, window - t);
        } else {
          assert.equal(value, batch[t], `window ${window}, bar ${t}`);
          // The running sums stay within float error of the two-pass deviation over a long series
          // (daily log returns are around 1e-2).
          const deviation = twoPass(closes, t, window);
          assert.ok(
            Math.abs(value - deviation) <= 1e-10,
            `window ${window}, bar ${t}: ${value} vs ${deviation}`,
          );
        }
      });
    }
    // The labels carry the batch value of their start bar.
    const config = { profitTake: 1, stopLoss: 1, verticalBars: 5, volatilityWindow: 20 };
    const batch = rollingVolatility(closes, 20);
    for (const label of tripleBarrierLabels(closes, config))
      assert.equal(label.volatility, batch[label.start]);
  });

  it("the risk gate's barrier volatility, fed the real bars, equals the batch value at each signal's bar", () => {
    const window = 20;
    const labels = { profitTake: 1.5, stopLoss: 1, verticalBars: 5, volatilityWindow: window };
    const barriers = new BarrierExits({ barInterval: '1d' });
    barriers.setModel('m1', { labels });
    const batch = rollingVolatility(closes, window);
    bars.forEach((bar, t) => {
      barriers.onBar(bar);
      const exits = barriers.exitsFor('m1', 'AAPL', 'buy', bar.ts_event, undefined);
      if (t < window) {
        assert.equal(exits.bracket, undefined);
        return;
      }
      assert.ok(exits.bracket !== undefined, `bar ${t}`);
      assert.equal(exits.volatility, batch[t]);
      assert.equal(exits.reference, closes[t]);
      const { upper, lower } = barrierPrices(labels, batch[t]!, closes[t]!);
      assert.equal(exits.bracket.take_profit.limit_price, upper);
      assert.equal(exits.bracket.stop_loss.stop_price, lower);
      // A signal decided after the next bar arrived still gets the values as of its own bar.
      if (t > window) {
        const late = barriers.exitsFor('m1', 'AAPL', 'buy', bars[t - 1]!.ts_event, undefined);
        assert.ok(late.bracket !== undefined && late.volatility === batch[t - 1]);
        assert.equal(late.reference, closes[t - 1]);
      }
    });
  });

  it('refuses a window shorter than two returns', () => {
    assert.throws(() => new RollingVolatility(1), /at least 2/);
    assert.throws(() => rollingVolatility([1, 2, 3], 1), /at least 2/);
  });
});
