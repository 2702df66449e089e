// ccxt's market precision and limits as trading.venueRules (the Binance filters themselves are read
// through real ccxt in test/integration/broker-ccxt.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import ccxt, { type MarketInterface } from 'ccxt';
import { venueRulesFromMarkets } from '../../actors/execution/brokers/ccxt.ts';
import { VenueRulesConfigSchema } from '../../actors/risk/config.ts';

function market(
  precision: { amount?: number; price?: number },
  limits: { amount?: number; cost?: number },
): MarketInterface {
  return {
    precision,
    limits: {
      amount: { min: limits.amount, max: undefined },
      cost: { min: limits.cost, max: undefined },
    },
  } as unknown as MarketInterface;
}

describe('venue rules from ccxt markets', () => {
  it('reads steps as ticks under TICK_SIZE and as decimal places under DECIMAL_PLACES', () => {
    const markets = { 'ETH/EUR': market({ amount: 4, price: 2 }, { amount: 0.001, cost: 10 }) };
    assert.deepEqual(venueRulesFromMarkets(markets, ['ETH/EUR'], ccxt.DECIMAL_PLACES), {
      'ETH/EUR': { lotSize: 0.0001, minQuantity: 0.001, minNotional: 10, tickSize: 0.01 },
    });
    const ticks = { 'BTC/USDT': market({ amount: 0.00001, price: 0.01 }, { amount: 0.00001, cost: 5 }) };
    assert.deepEqual(venueRulesFromMarkets(ticks, ['BTC/USDT'], ccxt.TICK_SIZE), {
      'BTC/USDT': { lotSize: 0.00001, minQuantity: 0.00001, minNotional: 5, tickSize: 0.01 },
    });
  });

  it('leaves out what a market does not state, states as 0, or states without a fixed step', () => {
    const markets = {
      'A/B': market({}, {}),
      'C/D': market({ amount: 0, price: 1e-15 }, { amount: 0, cost: Number.NaN }),
      'E/F': market({ amount: 3, price: 5 }, { amount: 1 }),
    };
    const rules = venueRulesFromMarkets(markets, ['A/B', 'C/D'], ccxt.TICK_SIZE);
    assert.deepEqual(rules, { 'A/B': {}, 'C/D': {} });
    assert.deepEqual(venueRulesFromMarkets(markets, ['E/F'], ccxt.SIGNIFICANT_DIGITS), {
      'E/F': { minQuantity: 1 },
    });
    assert.deepEqual(venueRulesFromMarkets(markets, ['E/F'], undefined), { 'E/F': { minQuantity: 1 } });
    assert.ok(Value.Check(VenueRulesConfigSchema, rules));
  });

  it('names a configured symbol the exchange does not list', () => {
    assert.throws(() => venueRulesFromMarkets({}, ['DOGE/USD'], ccxt.TICK_SIZE), /no market DOGE\/USD/);
  });
});
