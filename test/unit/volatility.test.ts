// The rolling volatility the labels are scaled by and the one the risk gate scales barrier exits by are
// one estimator: fed bar by bar as the gate feeds it, it gives the batch values the labels use, on
// real daily bars (stocknet AAPL from ../shared/data), and both are the sample standard deviation of
// the window's log returns.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseDatasetText, stocknetPriceFile } from '../../core/datasets.ts';
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

  it('refuses a window shorter than two returns', () => {
    assert.throws(() => new RollingVolatility(1), /at least 2/);
    assert.throws(() => rollingVolatility([1, 2, 3], 1), /at least 2/);
  });
});
