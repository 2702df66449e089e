// The factor library: the registry builds factors by name with checked parameters; each built-in
// factor matches a value worked by hand on a few bars; a cross-section as of t reads no bar closing
// after t; winsorize -> z-score -> neutralise -> rank -> weights match hand-computed values.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createIndicator } from '../../actors/feature/indicators.ts';
import { ConfigError } from '../../core/errors.ts';
import { defaultFactorRegistry } from '../../core/factors/bar-factors.ts';
import {
  combineFactorScores,
  crossSectionalWeights,
  factorCrossSection,
  neutralize,
  ranks,
  rankWeights,
  winsorize,
  zScores,
} from '../../core/factors/cross-section.ts';
import type { FactorPlugin } from '../../core/factors/registry.ts';
import type { BarInput } from '../../core/money-flow.ts';
import { SeededRandom } from '../../core/random.ts';

const DAY = 86_400_000;

/** Bars at day closes 1, 2, ...; high = low = close unless given. */
function bars(closes: readonly number[], volumes?: readonly number[]): BarInput[] {
  return closes.map((close, i) => ({
    ts_event: (i + 1) * DAY,
    high: close,
    low: close,
    close,
    volume: volumes?.[i] ?? 1000,
  }));
}

function randomBars(length: number, seed: number): BarInput[] {
  const random = new SeededRandom(seed);
  let close = 100;
  return Array.from({ length }, (_, i) => {
    close *= Math.exp((random.next() - 0.5) * 0.04);
    const high = close * (1 + random.next() * 0.01);
    const low = close * (1 - random.next() * 0.01);
    return { ts_event: (i + 1) * DAY, high, low, close, volume: Math.floor(random.next() * 1e6) };
  });
}

const near = (actual: number | undefined, expected: number, tolerance = 1e-12): void => {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= tolerance, `${actual} != ${expected}`);
};

const nearAll = (actual: Iterable<number>, expected: readonly number[]): void => {
  const values = [...actual];
  assert.equal(values.length, expected.length);
  for (let i = 0; i < values.length; i++) near(values[i], expected[i]!);
};

const isConfigError = (pattern: RegExp) => (error: unknown) =>
  error instanceof ConfigError && pattern.test(error.message);

describe('factor registry', () => {
  const registry = defaultFactorRegistry();

  it('holds the built-in factors by name, with metadata', () => {
    assert.deepEqual(registry.names(), [
      'low_volatility',
      'momentum_12_1',
      'momentum_6_1',
      'money_flow_index',
      'obv_flow',
      'reversal_1m',
    ]);
    const momentum = registry.metadata().find((m) => m.name === 'momentum_12_1')!;
    assert.equal(momentum.category, 'momentum');
    assert.deepEqual(Object.keys(momentum.parameters), ['lookbackMonths', 'skipMonths', 'barsPerMonth']);
  });

  it('reads 12-1 and 6-1 momentum in bars of the interval: 252 / 21 and 126 / 21 for daily bars', () => {
    assert.equal(registry.create('momentum_12_1').lookback, 253);
    assert.equal(registry.create('momentum_6_1').lookback, 127);
    assert.equal(registry.create('reversal_1m').lookback, 22);
    assert.equal(registry.create('low_volatility').lookback, 253);
    assert.equal(registry.create('momentum_12_1', { barsPerMonth: 5 }).lookback, 61);
  });

  it('refuses an unknown factor, an unknown parameter, a bad value and a name registered twice', () => {
    assert.throws(
      () => registry.create('value'),
      isConfigError(/factor value: is not registered. Use one of: low_/),
    );
    assert.throws(
      () => registry.create('money_flow_index', { window: 3 }),
      isConfigError(/window: is not a parameter/),
    );
    assert.throws(
      () => registry.create('money_flow_index', { period: 0 }),
      isConfigError(/period: must be an integer >= 1/),
    );
    assert.throws(() => registry.create('obv_flow', { period: 2.5 }), isConfigError(/got 2.5/));
    assert.throws(() => registry.create('obv_flow', { period: Number.NaN }), isConfigError(/got NaN/));
    assert.throws(
      () => registry.create('momentum_6_1', { lookbackMonths: 1, skipMonths: 1 }),
      isConfigError(/skipMonths: must be below lookbackMonths/),
    );
    assert.throws(
      () => registry.create('low_volatility', { months: 1, barsPerMonth: 1 }),
      isConfigError(/2 bars/),
    );
    const again = defaultFactorRegistry().metadata()[0]!;
    assert.throws(
      () => registry.register({ metadata: again, build: () => registry.create(again.name) }),
      isConfigError(/registered twice/),
    );
  });

  it('takes a plugin of its own and builds it like the built-ins', () => {
    const lastClose: FactorPlugin = {
      metadata: { name: 'last_close', description: 'the close', category: 'risk', parameters: {} },
      build: () => ({
        name: 'last_close',
        lookback: 1,
        compute: (history) => history[history.length - 1]!.close,
      }),
    };
    const own = defaultFactorRegistry().register(lastClose);
    assert.ok(own.names().includes('last_close'));
    assert.ok(!registry.names().includes('last_close'), 'registries do not share registrations');
    const { values } = factorCrossSection(
      own.create('last_close'),
      new Map([['A', bars([1, 2, 3])]]),
      2 * DAY,
    );
    assert.deepEqual([...values], [['A', 2]]);
  });
});

describe('built-in factors, by hand', () => {
  const registry = defaultFactorRegistry();
  const at = (name: string, parameters: Record<string, number>, history: BarInput[]): number =>
    registry.create(name, parameters).compute(history);

  it('momentum 6-1 with 2 bars a month: close 2 bars back over close 12 bars back, minus 1', () => {
    const closes = Array.from({ length: 14 }, (_, i) => 100 + i); // 100 .. 113
    // The last 13 bars are 101 .. 113: 12 bars back is 101, 2 bars back is 111.
    near(at('momentum_6_1', { barsPerMonth: 2 }, bars(closes)), 111 / 101 - 1);
    near(at('momentum_12_1', { barsPerMonth: 1 }, bars(closes)), 112 / 101 - 1);
  });

  it("short-term reversal is minus the last month's return", () => {
    near(at('reversal_1m', { barsPerMonth: 3 }, bars([50, 100, 120, 80, 90])), 0.1);
  });

  it('low volatility is minus the sample standard deviation of the log returns', () => {
    const r = [Math.log(110 / 100), Math.log(99 / 110), Math.log(105 / 99)];
    const mean = (r[0]! + r[1]! + r[2]!) / 3;
    const sd = Math.sqrt(r.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
    near(at('low_volatility', { months: 1, barsPerMonth: 3 }, bars([70, 100, 110, 99, 105])), -sd, 1e-15);
  });

  it('money flow index: up-bar flow over total flow, in percent', () => {
    // Typical prices 10, 11, 10.5, 12: up 11 x 200, down 10.5 x 300, up 12 x 400.
    const history = bars([7, 10, 11, 10.5, 12], [1, 100, 200, 300, 400]);
    near(at('money_flow_index', { period: 3 }, history), (100 * (2200 + 4800)) / (2200 + 3150 + 4800));
  });

  it('money flow index is the feature set MFI column', () => {
    const history = randomBars(300, 5);
    const feature = createIndicator({ kind: 'mfi', period: 14 });
    const out = new Float64Array(1);
    for (const bar of history) feature.update(bar, out, 0);
    near(at('money_flow_index', {}, history), out[0]!, 1e-9);
  });

  it('OBV flow: signed volume over the window per unit traded', () => {
    const history = bars([7, 10, 11, 10.5, 12], [1, 100, 200, 300, 400]);
    near(at('obv_flow', { period: 3 }, history), (200 - 300 + 400) / 900);
    near(at('obv_flow', { period: 2 }, bars([1, 2, 3], [0, 0, 0])), 0);
  });
});

describe('factor cross-section, point in time', () => {
  const registry = defaultFactorRegistry();
  const histories = new Map([
    ['AAA', randomBars(400, 1)],
    ['BBB', randomBars(400, 2)],
    ['CCC', randomBars(400, 3)],
  ]);

  it('gives the same values as of t whether or not bars after t exist, for every factor', () => {
    const asOf = 300 * DAY;
    const truncated = new Map([...histories].map(([id, b]) => [id, b.filter((bar) => bar.ts_event <= asOf)]));
    // Later bars changed beyond recognition: a factor reading them would move.
    const scrambled = new Map(
      [...histories].map(([id, b]) => [
        id,
        b.map((bar) =>
          bar.ts_event > asOf ? { ...bar, close: bar.close * 3, high: bar.high * 3, volume: 1 } : bar,
        ),
      ]),
    );
    for (const name of registry.names()) {
      const factor = registry.create(name);
      const full = factorCrossSection(factor, histories, asOf);
      assert.equal(full.values.size, 3, name);
      assert.deepEqual(factorCrossSection(factor, truncated, asOf), full, name);
      assert.deepEqual(factorCrossSection(factor, scrambled, asOf), full, name);
      // The test can fail: once the window reaches the changed bars, every factor moves.
      const later = asOf + 30 * DAY;
      assert.notDeepEqual(
        factorCrossSection(factor, scrambled, later),
        factorCrossSection(factor, histories, later),
        name,
      );
    }
  });

  it('uses the last bar closed at or before the as-of time', () => {
    const factor = registry.create('reversal_1m', { barsPerMonth: 1 });
    const history = new Map([['A', bars([100, 110, 121])]]);
    near(factorCrossSection(factor, history, 2.5 * DAY).values.get('A'), -0.1);
    near(factorCrossSection(factor, history, 3 * DAY).values.get('A'), -0.1);
  });

  it('lists every instrument without a value and why', () => {
    const factor = registry.create('reversal_1m', { barsPerMonth: 2 });
    const withNaN = bars([100, 101, 102, 103]);
    withNaN[2] = { ...withNaN[2]!, close: Number.NaN };
    const unordered = bars([100, 101, 102, 103]);
    unordered[3] = { ...unordered[3]!, ts_event: unordered[1]!.ts_event };
    const { values, missing } = factorCrossSection(
      factor,
      new Map([
        ['GOOD', bars([100, 101, 102, 103])],
        ['SHORT', bars([100, 101])],
        ['NAN', withNaN],
        ['UNORDERED', unordered],
        ['NEGVOL', bars([100, 101, 102, 103], [1, 1, -5, 1])],
      ]),
      4 * DAY,
    );
    assert.deepEqual([...values.keys()], ['GOOD']);
    assert.deepEqual([...missing.keys()], ['SHORT', 'NAN', 'UNORDERED', 'NEGVOL']);
    assert.match(missing.get('SHORT')!, /2 bars up to .*needs 3/);
    assert.match(missing.get('NAN')!, /close NaN/);
    assert.match(missing.get('NEGVOL')!, /volume -5/);
  });
});

describe('cross-sectional steps, by hand', () => {
  const section = (entries: [string, number][]): Map<string, number> => new Map(entries);

  it('winsorizes at linearly interpolated quantiles', () => {
    const out = winsorize(
      section([
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
        ['e', 100],
      ]),
      0.1,
      0.9,
    );
    // (n - 1) p = 0.4 and 3.6: 1 + 0.4 x 1 = 1.4 and 4 + 0.6 x 96 = 61.6.
    near(out.get('a'), 1.4);
    assert.equal(out.get('c'), 3);
    near(out.get('e'), 61.6);
  });

  it('z-scores with the sample standard deviation; no dispersion gives zeros', () => {
    const out = zScores(
      section([
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
        ['e', 5],
      ]),
    );
    near(out.get('a'), -2 / Math.sqrt(2.5));
    near(out.get('c'), 0);
    near(out.get('e'), 2 / Math.sqrt(2.5));
    assert.deepEqual(
      [
        ...zScores(
          section([
            ['a', 7],
            ['b', 7],
          ]),
        ).values(),
      ],
      [0, 0],
    );
    assert.deepEqual([...zScores(section([['a', 7]])).values()], [0]);
  });

  it('neutralises against sectors: demeaned within each', () => {
    const groups = new Map([
      ['a', 'tech'],
      ['b', 'tech'],
      ['c', 'bank'],
      ['d', 'bank'],
      ['e', 'bank'],
    ]);
    const out = neutralize(
      section([
        ['a', 1],
        ['b', 3],
        ['c', 10],
        ['d', 14],
        ['e', 0],
      ]),
      { groups },
    );
    const expected = [-1, 1, 2, 6, -8];
    nearAll(out.values(), expected);
  });

  it('neutralises against an exposure: the OLS residual on [1, exposure]', () => {
    const exposure = section([
      ['a', 0],
      ['b', 1],
      ['c', 2],
      ['d', 3],
    ]);
    const out = neutralize(
      section([
        ['a', 1],
        ['b', 3],
        ['c', 2],
        ['d', 5],
      ]),
      { exposures: [exposure] },
    );
    // slope 5.5 / 5 = 1.1, intercept 2.75 - 1.1 x 1.5 = 1.1: fitted 1.1, 2.2, 3.3, 4.4.
    const expected = [-0.1, 0.8, -1.3, 0.6];
    nearAll(out.values(), expected);
    // A constant exposure is collinear with the intercept; it leaves plain demeaning.
    const constant = section([
      ['a', 2],
      ['b', 2],
      ['c', 2],
      ['d', 2],
    ]);
    const demeaned = neutralize(
      section([
        ['a', 1],
        ['b', 3],
        ['c', 2],
        ['d', 6],
      ]),
      { exposures: [constant] },
    );
    nearAll(demeaned.values(), [-2, 0, -1, 3]);
  });

  it('leaves, on random cross-sections, zero mean in every group and no correlation with any exposure', () => {
    const random = new SeededRandom(21);
    for (let trial = 0; trial < 20; trial++) {
      const ids = Array.from({ length: 8 + trial }, (_, i) => `i${i}`);
      const values = new Map(ids.map((id) => [id, random.next() * 10 - 5]));
      const groups = new Map(ids.map((id, i) => [id, `g${i % 3}`]));
      const beta = new Map(ids.map((id) => [id, random.next() * 2]));
      const out = neutralize(values, { groups, exposures: [beta] });
      for (const group of ['g0', 'g1', 'g2']) {
        const members = ids.filter((id) => groups.get(id) === group);
        near(
          members.reduce((sum, id) => sum + out.get(id)!, 0),
          0,
          1e-9,
        );
      }
      near(
        ids.reduce((sum, id) => sum + out.get(id)! * beta.get(id)!, 0),
        0,
        1e-9,
      );
      // A value that is exactly a group effect plus a beta multiple is explained away entirely.
      const explained = new Map(ids.map((id, i) => [id, (i % 3) * 4 - 1 + 2.5 * beta.get(id)!]));
      for (const residual of neutralize(explained, { groups, exposures: [beta] }).values())
        near(residual, 0, 1e-9);
    }
  });

  it('ranks ascending with tied values sharing their mean rank', () => {
    assert.deepEqual(
      [
        ...ranks(
          section([
            ['a', 5],
            ['b', 1],
            ['c', 5],
            ['d', 3],
          ]),
        ).values(),
      ],
      [3.5, 1, 3.5, 2],
    );
  });

  it('weights from ranks: long-short sums to 0 with gross 1, long-only buys the upper half', () => {
    const rankings = section([
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
    ]);
    assert.deepEqual([...rankWeights(rankings, 'long_short').values()], [-0.375, -0.125, 0.125, 0.375]);
    assert.deepEqual([...rankWeights(rankings, 'long_only').values()], [0, 0, 0.25, 0.75]);
    assert.deepEqual([...rankWeights(rankings, 'long_short', 2).values()], [-0.75, -0.25, 0.25, 0.75]);
    const tied = section([
      ['a', 1.5],
      ['b', 1.5],
    ]);
    assert.deepEqual([...rankWeights(tied, 'long_short').values()], [0, 0]);
    assert.deepEqual([...rankWeights(tied, 'long_only').values()], [0.5, 0.5]);
  });

  it('runs winsorize -> z-score -> neutralise -> rank -> weights in that order', () => {
    const groups = new Map([
      ['a', 'x'],
      ['b', 'x'],
      ['c', 'y'],
      ['d', 'y'],
    ]);
    const result = crossSectionalWeights(
      section([
        ['a', 1],
        ['b', 2],
        ['c', 10],
        ['d', 50],
      ]),
      {
        winsorize: { lower: 0, upper: 2 / 3 },
        neutralize: { groups },
        side: 'long_short',
      },
    );
    // Upper quantile (n - 1) x 2/3 = 2: clip at 10, so d becomes 10; z-scores of 1, 2, 10, 10 then
    // demeaned per group: a, b at -/+ 0.5 / sd, c, d at 0; ranks a 1, c and d 2.5, b 4.
    assert.equal(result.winsorized.get('d'), 10);
    const sd = zScores(result.winsorized);
    near(result.neutralized.get('a'), -0.5 * (sd.get('b')! - sd.get('a')!), 1e-12);
    near(result.neutralized.get('c'), 0, 1e-12);
    assert.deepEqual([...result.ranks.values()], [1, 4, 2.5, 2.5]);
    assert.deepEqual([...result.weights.values()], [-0.5, 0.5, 0, 0]);
  });

  it('combines factor scores by weight for the instruments every weighted factor scored', () => {
    const { scores, incomplete } = combineFactorScores(
      new Map([
        [
          'momentum_12_1',
          section([
            ['a', 1],
            ['b', -1],
            ['c', 0.5],
          ]),
        ],
        [
          'low_volatility',
          section([
            ['a', -0.5],
            ['b', 2],
          ]),
        ],
      ]),
      new Map([
        ['momentum_12_1', 0.6],
        ['low_volatility', 0.4],
      ]),
    );
    assert.deepEqual(
      [...scores],
      [
        ['a', 0.6 - 0.2],
        ['b', -0.6 + 0.8],
      ],
    );
    assert.deepEqual([...incomplete], [['c', ['low_volatility']]]);
    assert.throws(
      () => combineFactorScores(new Map(), new Map([['value', 1]])),
      isConfigError(/factor weight value/),
    );
  });

  it('refuses non-finite values, a missing group or exposure and bad quantiles', () => {
    assert.throws(
      () =>
        zScores(
          section([
            ['a', 1],
            ['b', Number.NaN],
          ]),
        ),
      isConfigError(/z-score b: is NaN/),
    );
    assert.throws(
      () =>
        neutralize(
          section([
            ['a', 1],
            ['b', 2],
          ]),
          { groups: new Map([['a', 'x']]) },
        ),
      isConfigError(/group b: is missing/),
    );
    assert.throws(
      () =>
        neutralize(
          section([
            ['a', 1],
            ['b', 2],
          ]),
          { exposures: [section([['a', 1]])] },
        ),
      isConfigError(/exposure 0 b: is undefined/),
    );
    assert.throws(() => winsorize(section([['a', 1]]), 0.9, 0.1), isConfigError(/out of order/));
    assert.throws(() => rankWeights(section([['a', 1]]), 'long_only', -1), isConfigError(/gross/));
  });
});
