// The built-in factors, all computed from one instrument's bars up to the as-of bar (DCA manual §4.1).
// Horizons are in months of `barsPerMonth` bars (21 for daily bars: 12-1 momentum reads closes 252 and
// 21 bars back); a config on another interval sets barsPerMonth for it.
import { ConfigError } from '../errors.ts';
import { MoneyFlowIndex, OnBalanceVolume } from '../money-flow.ts';
import { RollingVolatility } from '../volatility.ts';
import { type FactorParameterSpec, type FactorPlugin, FactorRegistry } from './registry.ts';

const barsPerMonth: FactorParameterSpec = {
  description: 'bars in one month of the bar interval (21 trading days for daily bars)',
  default: 21,
  min: 1,
  integer: true,
};

const months = (description: string, value: number, min: number): FactorParameterSpec => ({
  description,
  default: value,
  min,
  integer: true,
});

const closeAgo = (history: readonly { readonly close: number }[], bars: number): number =>
  history[history.length - 1 - bars]!.close;

/** Return from `lookbackMonths` ago to `skipMonths` ago: the last month is left out (it reverses). */
function momentum(name: string, lookbackMonths: number, skipMonths: number): FactorPlugin {
  return {
    metadata: {
      name,
      description: `price momentum over ${lookbackMonths} months, skipping the last ${skipMonths}`,
      category: 'momentum',
      parameters: {
        lookbackMonths: months('months back the return starts', lookbackMonths, 1),
        skipMonths: months('most recent months left out', skipMonths, 0),
        barsPerMonth,
      },
    },
    build(p) {
      const from = p.lookbackMonths! * p.barsPerMonth!;
      const to = p.skipMonths! * p.barsPerMonth!;
      if (to >= from) {
        throw new ConfigError(
          `factor ${name}.skipMonths`,
          'must be below lookbackMonths',
          'Skip fewer months',
        );
      }
      return {
        name,
        lookback: from + 1,
        compute: (history) => closeAgo(history, to) / closeAgo(history, from) - 1,
      };
    },
  };
}

const shortTermReversal: FactorPlugin = {
  metadata: {
    name: 'reversal_1m',
    description: "short-term reversal: minus the last month's return (last month's losers rebound)",
    category: 'reversal',
    parameters: { months: months('months of the return reversed', 1, 1), barsPerMonth },
  },
  build(p) {
    const bars = p.months! * p.barsPerMonth!;
    return {
      name: 'reversal_1m',
      lookback: bars + 1,
      compute: (history) => -(closeAgo(history, 0) / closeAgo(history, bars) - 1),
    };
  },
};

const lowVolatility: FactorPlugin = {
  metadata: {
    name: 'low_volatility',
    description: 'minus the sample standard deviation of one-bar log returns (low-volatility anomaly)',
    category: 'risk',
    parameters: { months: months('months of returns', 12, 1), barsPerMonth },
  },
  build(p) {
    const returns = p.months! * p.barsPerMonth!;
    if (returns < 2) {
      throw new ConfigError('factor low_volatility.months', 'must span at least 2 bars', 'Raise months');
    }
    return {
      name: 'low_volatility',
      lookback: returns + 1,
      compute(history) {
        // The estimator the labels and the risk gate use (core/volatility.ts), over this window only.
        const volatility = new RollingVolatility(returns);
        let value = Number.NaN;
        for (let i = history.length - returns - 1; i < history.length; i++)
          value = volatility.push(history[i]!.close);
        return -value;
      },
    };
  },
};

const moneyFlowIndex: FactorPlugin = {
  metadata: {
    name: 'money_flow_index',
    description: 'MFI: the share of typical-price money flow on up bars, 0..100 (the feature set MFI)',
    category: 'money_flow',
    parameters: {
      period: { description: 'typical-price changes summed', default: 14, min: 1, integer: true },
    },
  },
  build(p) {
    const period = p.period!;
    return {
      name: 'money_flow_index',
      lookback: period + 1,
      compute(history) {
        const mfi = new MoneyFlowIndex(period);
        let value = Number.NaN;
        for (let i = history.length - period - 1; i < history.length; i++) value = mfi.push(history[i]!);
        return value;
      },
    };
  },
};

const onBalanceVolumeFlow: FactorPlugin = {
  metadata: {
    name: 'obv_flow',
    description: 'change of on-balance volume over the window per unit of volume traded in it, -1..1',
    category: 'money_flow',
    parameters: { period: { description: 'bars of volume', default: 21, min: 1, integer: true } },
  },
  build(p) {
    const period = p.period!;
    return {
      name: 'obv_flow',
      lookback: period + 1,
      compute(history) {
        // OBV levels depend on where a history starts, so the cross-section compares their change.
        const obv = new OnBalanceVolume();
        const start = history.length - period - 1;
        const first = obv.push(history[start]!);
        let last = first;
        let traded = 0;
        for (let i = start + 1; i < history.length; i++) {
          last = obv.push(history[i]!);
          traded += history[i]!.volume;
        }
        return traded > 0 ? (last - first) / traded : 0;
      },
    };
  },
};

/** A fresh registry holding the built-in factors; callers may register their own on it. */
export function defaultFactorRegistry(): FactorRegistry {
  return new FactorRegistry()
    .register(momentum('momentum_12_1', 12, 1))
    .register(momentum('momentum_6_1', 6, 1))
    .register(shortTermReversal)
    .register(lowVolatility)
    .register(moneyFlowIndex)
    .register(onBalanceVolumeFlow);
}
