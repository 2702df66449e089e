import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  mergeVenueRules,
  roundPriceToTick,
  roundToLot,
  venueQuantity,
} from '../../actors/risk/venue-rules.ts';
import { ConfigError } from '../../core/errors.ts';
import { parseBacktestConfig } from '../../simulations/backtest-config.ts';

describe('instrument rules: lots', () => {
  it('rounds down to whole lots without binary error', () => {
    assert.equal(roundToLot(0.3, 0.1), 0.3);
    assert.equal(roundToLot(0.7, 0.1), 0.7);
    assert.equal(roundToLot(1.23456, 0.001), 1.234);
    assert.equal(roundToLot(0.29999, 0.1), 0.2);
    assert.equal(roundToLot(7, 5), 5);
    assert.equal(roundToLot(0.123456789, 1e-8), 0.12345678);
    assert.equal(roundToLot(1.1, 0.25), 1);
  });

  it('never rounds up, and lands on a multiple of the step (steps from 1e-8 to 1, 999 quantities each)', () => {
    for (const step of [0.001, 0.005, 0.01, 0.1, 0.25, 1, 1e-8]) {
      for (let k = 1; k < 1000; k++) {
        const q = k * step * 1.0000001 + step / 3;
        const lots = roundToLot(q, step);
        assert.ok(lots <= q, `${lots} <= ${q}`);
        assert.ok(q - lots < step + 1e-12, `${q} - ${lots} < ${step}`);
        const n = lots / step;
        assert.ok(Math.abs(n - Math.round(n)) < 1e-6, `${lots} is whole ${step} steps`);
        // Exact decimals: the string form carries no binary tail.
        assert.ok(String(lots).length <= 12 || String(lots).includes('e'), String(lots));
      }
    }
  });
});

describe('instrument rules: ticks', () => {
  it('a buy limit rounds down, a sell limit up: never more aggressive', () => {
    assert.equal(roundPriceToTick(100.057, 0.01, 'buy'), 100.05);
    assert.equal(roundPriceToTick(100.051, 0.01, 'sell'), 100.06);
    assert.equal(roundPriceToTick(100.05, 0.01, 'buy'), 100.05);
    assert.equal(roundPriceToTick(100.05, 0.01, 'sell'), 100.05);
    assert.equal(roundPriceToTick(0.3, 0.1, 'sell'), 0.3);
    assert.equal(roundPriceToTick(99.9, 0.25, 'buy'), 99.75);
    assert.equal(roundPriceToTick(99.9, 0.25, 'sell'), 100);
  });
});

describe('instrument rules: minimums', () => {
  it('a spec without rules changes nothing', () => {
    assert.equal(venueQuantity({}, 1.23456, 100).quantity, 1.23456);
  });

  it('below one lot or minQuantity is 0, with the rule named', () => {
    assert.deepEqual(venueQuantity({ lotSize: 1 }, 0.9, 100), {
      quantity: 0,
      lots: 0,
      notional: 0,
      minQuantity: 1,
      minNotional: undefined,
      denial: 'BELOW_MIN_QUANTITY',
    });
    const v = venueQuantity({ lotSize: 0.1, minQuantity: 0.5 }, 0.49, 100);
    assert.equal(v.quantity, 0);
    assert.equal(v.lots, 0.4);
    assert.equal(v.denial, 'BELOW_MIN_QUANTITY');
    assert.equal(venueQuantity({ lotSize: 0.1, minQuantity: 0.5 }, 0.5, 100).quantity, 0.5);
  });

  it('minNotional at the reference price: the boundary passes, a lot less does not', () => {
    const spec = { lotSize: 0.001, minNotional: 10 };
    assert.equal(venueQuantity(spec, 0.1, 100).quantity, 0.1); // exactly 10
    const below = venueQuantity(spec, 0.0999, 100);
    assert.equal(below.quantity, 0);
    assert.equal(below.denial, 'BELOW_MIN_NOTIONAL');
    assert.ok(Math.abs(below.notional - 9.9) < 1e-9);
    // Rounding happens first: 0.1009 is 0.1 lots, still at the minimum.
    assert.equal(venueQuantity(spec, 0.1009, 100).quantity, 0.1);
  });

  it('a signal that asked for nothing is not a denial of the venue', () => {
    assert.equal(venueQuantity({ lotSize: 1, minNotional: 10 }, 0, 100).denial, undefined);
  });
});

describe('instrument rules: the trading config', () => {
  const sample = JSON.parse(readFileSync('simulations/configs/sample-daily.json', 'utf8'));
  const withVenueRules = (venueRules: unknown) => ({
    ...sample,
    trading: { ...sample.trading, venueRules },
  });

  it('takes a spec per symbol', () => {
    const spec = { lotSize: 0.001, minQuantity: 0.001, minNotional: 10, tickSize: 0.01 };
    const config = parseBacktestConfig(withVenueRules({ 'BTC/USDT': spec }));
    assert.deepEqual(config.trading.venueRules, { 'BTC/USDT': spec });
  });

  const hostile: [string, unknown, string][] = [
    ['a zero lot', { SPY: { lotSize: 0 } }, '/trading/venueRules/SPY/lotSize'],
    ['a negative tick', { SPY: { tickSize: -0.01 } }, '/trading/venueRules/SPY/tickSize'],
    ['a step too small to count lots with', { SPY: { lotSize: 1e-300 } }, '/trading/venueRules/SPY/lotSize'],
    ['a zero minimum notional', { SPY: { minNotional: 0 } }, '/trading/venueRules/SPY/minNotional'],
    ['a negative minimum quantity', { SPY: { minQuantity: -1 } }, '/trading/venueRules/SPY/minQuantity'],
    ['a string for a number', { SPY: { lotSize: '1' } }, '/trading/venueRules/SPY/lotSize'],
    ['a misspelt rule', { SPY: { lotsize: 1 } }, '/trading/venueRules/SPY/lotsize'],
    ['a spec that is not an object', { SPY: 1 }, '/trading/venueRules/SPY'],
    ['a list instead of a map', [{ lotSize: 1 }], '/trading/venueRules'],
  ];
  for (const [name, venueRules, field] of hostile) {
    it(`refuses ${name}, naming ${field}`, () => {
      assert.throws(
        () => parseBacktestConfig(withVenueRules(venueRules)),
        (error: unknown) => error instanceof ConfigError && error.field === field,
      );
    });
  }
});

describe("instrument rules: the venue's merged under the config's", () => {
  const venue = { 'BTC/USDT': { lotSize: 0.00001, minQuantity: 0.00001, minNotional: 5, tickSize: 0.01 } };

  it('takes the venue rules where the config has none, and keeps symbols the venue does not describe', () => {
    const { rules, replaced } = mergeVenueRules({ SPY: { lotSize: 1 } }, venue);
    assert.deepEqual(rules, { 'BTC/USDT': venue['BTC/USDT'], SPY: { lotSize: 1 } });
    assert.deepEqual(replaced, []);
  });

  it("replaces a looser configured value by the venue's and names it", () => {
    const { rules, replaced } = mergeVenueRules(
      { 'BTC/USDT': { lotSize: 0.000001, minQuantity: 0.000001, minNotional: 1, tickSize: 0.001 } },
      venue,
    );
    assert.deepEqual(rules, venue);
    assert.deepEqual(
      replaced.map(({ rule, configured, venue }) => [rule, configured, venue]),
      [
        ['lotSize', 0.000001, 0.00001],
        ['minQuantity', 0.000001, 0.00001],
        ['minNotional', 1, 5],
        ['tickSize', 0.001, 0.01],
      ],
    );
    assert.ok(replaced.every(({ symbol }) => symbol === 'BTC/USDT'));
  });

  it("keeps a stricter configured value: a larger minimum, a step on the venue's grid", () => {
    const stricter = { lotSize: 0.001, minQuantity: 0.01, minNotional: 100, tickSize: 0.1 };
    const { rules, replaced } = mergeVenueRules({ 'BTC/USDT': stricter }, venue);
    assert.deepEqual(rules, { 'BTC/USDT': stricter });
    assert.deepEqual(replaced, []);
    // Equal values are kept too, and partial configs take the rest from the venue.
    assert.deepEqual(mergeVenueRules({ 'BTC/USDT': { minNotional: 5 } }, venue), {
      rules: venue,
      replaced: [],
    });
  });

  it("replaces a larger step that is off the venue's grid (orders on it would be refused)", () => {
    const { rules, replaced } = mergeVenueRules(
      { X: { lotSize: 0.15, tickSize: 0.25 } },
      { X: { lotSize: 0.1, tickSize: 0.1 } },
    );
    assert.deepEqual(rules, { X: { lotSize: 0.1, tickSize: 0.1 } });
    assert.deepEqual(
      replaced.map(({ rule }) => rule),
      ['lotSize', 'tickSize'],
    );
    // Binary error does not count as off the grid: 0.3 is three lots of 0.1.
    assert.deepEqual(mergeVenueRules({ X: { lotSize: 0.3 } }, { X: { lotSize: 0.1 } }).replaced, []);
  });
});
