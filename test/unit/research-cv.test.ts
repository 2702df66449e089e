import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SeededRandom } from '../../core/random.ts';
import { rollingVolatility } from '../../core/volatility.ts';
import { type LabelWindow, purgedWalkForwardSplits } from '../../simulations/research/cross-validation.ts';
import { tripleBarrierLabels } from '../../simulations/research/labels.ts';
import { readDailyBars } from '../../simulations/research/price-features.ts';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');

const overlaps = (a: LabelWindow, b: LabelWindow): boolean => a.start <= b.end && b.start <= a.end;

/**
 * Checks every fold against the rules from first principles: train and test disjoint, no training
 * window overlaps any test window or the span from the test start to the last embargoed sample, no
 * embargoed sample trains, and nothing was purged that did not have to be.
 */
function checkSplits(
  windows: LabelWindow[],
  folds: number,
  embargoFraction: number,
  scheme: 'walk-forward' | 'purged-k-fold',
) {
  const splits = purgedWalkForwardSplits(windows, { folds, embargoFraction, scheme });
  assert.equal(splits.length, folds);
  const embargo = Math.ceil(embargoFraction * windows.length);
  let previousTestEnd = -1;
  for (const split of splits) {
    const test = new Set(split.test);
    const first = split.test[0]!;
    const last = split.test[split.test.length - 1]!;
    assert.equal(last - first + 1, split.test.length, 'test fold is contiguous');
    assert.ok(first > previousTestEnd, 'folds in time order');
    previousTestEnd = last;
    const embargoed = new Set<number>();
    for (let i = last + 1; i <= Math.min(last + embargo, windows.length - 1); i++) embargoed.add(i);
    let hullEnd = Math.max(...split.test.map((i) => windows[i]!.end));
    for (const i of embargoed) hullEnd = Math.max(hullEnd, windows[i]!.start);
    const hull = { start: windows[first]!.start, end: hullEnd };
    const train = new Set(split.train);
    for (const i of split.train) {
      const w = windows[i]!;
      assert.ok(!test.has(i), 'train and test disjoint');
      assert.ok(!embargoed.has(i), `sample ${i} is embargoed but trains`);
      assert.ok(!overlaps(w, hull), `train window ${i} [${w.start}, ${w.end}] overlaps test+embargo`);
      for (const j of split.test) assert.ok(!overlaps(w, windows[j]!), `train ${i} overlaps test ${j}`);
      if (scheme === 'walk-forward') assert.ok(i < first, 'walk-forward trains on the past only');
    }
    // Maximal: every candidate left out had to go.
    const candidates = windows
      .map((_, i) => i)
      .filter((i) => i < first || (scheme === 'purged-k-fold' && i > last));
    for (const i of candidates) {
      if (!train.has(i))
        assert.ok(overlaps(windows[i]!, hull) || embargoed.has(i), `sample ${i} purged needlessly`);
    }
    assert.equal(split.purged, candidates.length - split.train.length);
  }
  return splits;
}

function randomWindows(random: SeededRandom, n: number, maxHold: number, tieRate: number): LabelWindow[] {
  const windows: LabelWindow[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    if (random.next() >= tieRate) t += 1 + Math.floor(random.next() * 3);
    windows.push({ start: t, end: t + Math.floor(random.next() * maxHold) });
  }
  return windows;
}

describe('purged and embargoed walk-forward CV', () => {
  it('never trains on a label window that overlaps a test fold or its embargo (many configurations)', () => {
    const random = new SeededRandom(42);
    let configurations = 0;
    for (const n of [20, 97, 500]) {
      for (const maxHold of [1, 5, 40]) {
        for (const folds of [1, 2, 5, 8]) {
          for (const embargoFraction of [0, 0.01, 0.05, 0.2]) {
            for (const scheme of ['walk-forward', 'purged-k-fold'] as const) {
              checkSplits(randomWindows(random, n, maxHold, 0.3), folds, embargoFraction, scheme);
              configurations++;
            }
          }
        }
      }
    }
    assert.equal(configurations, 288);
  });

  it('uses a 1% embargo by default and rejects unsorted or too few samples', () => {
    const windows = Array.from({ length: 300 }, (_, i) => ({ start: i, end: i }));
    const [fold] = purgedWalkForwardSplits(windows, { folds: 2, scheme: 'purged-k-fold' });
    // Test fold 0..149; a 3-sample embargo (1% of 300) drops 150..152 from training.
    assert.deepEqual(fold!.train.slice(0, 2), [153, 154]);
    assert.throws(() => purgedWalkForwardSplits([windows[1]!, windows[0]!], { folds: 1 }), /sorted/);
    assert.throws(() => purgedWalkForwardSplits(windows.slice(0, 2), { folds: 2 }), /at least 3/);
  });
});

describe('triple-barrier labels on stocknet closes', () => {
  const bars = readDailyBars(join(dataDir, 'stocknet', 'price_raw', 'AAPL.csv'));
  const closes = bars.map((b) => b.adjClose);
  const config = { profitTake: 1.5, stopLoss: 1, verticalBars: 10, volatilityWindow: 20 };
  const labels = tripleBarrierLabels(closes, config);

  it('labels each bar by the first barrier its path touches', () => {
    assert.ok(bars.length > 1200);
    assert.equal(labels.length, closes.length - config.volatilityWindow - config.verticalBars);
    const vol = rollingVolatility(closes, config.volatilityWindow);
    const counts = { '-1': 0, '0': 0, '1': 0 };
    for (const l of labels) {
      counts[l.label]++;
      assert.equal(l.volatility, vol[l.start]);
      assert.ok(l.end > l.start && l.end <= l.start + config.verticalBars);
      const path = closes.slice(l.start + 1, l.end + 1).map((c) => Math.log(c / closes[l.start]!));
      const touched = path.findIndex((r) => r >= 1.5 * l.volatility || r <= -l.volatility);
      if (l.label === 0) assert.equal(touched, -1);
      else {
        assert.equal(touched, path.length - 1, 'barrier first touched at the end of the window');
        assert.equal(Math.sign(path[touched]!), l.label);
      }
    }
    for (const n of Object.values(counts)) assert.ok(n > 50, `every label occurs: ${JSON.stringify(counts)}`);
  });

  it('walk-forward folds over real label windows keep the purge rule', () => {
    const splits = checkSplits(labels, 5, 0.01, 'walk-forward');
    // Ten-bar windows must cost some training samples at every fold boundary.
    for (const split of splits) assert.ok(split.purged >= 1);
  });
});
