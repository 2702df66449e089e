// The backtest configuration file: one JSON document naming the data, feature set, model, sizing,
// risk limits and venue models. Each actor's part is its own schema (actors/*/config.ts), composed
// here as in the live run config. Checked against a TypeBox schema; the first problem stops the run with
// a ConfigError naming the field (as a JSON pointer, e.g. /trading/venue/fee/takerBps).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { BarIntervalSchema, FeatureSetNameSchema } from '../actors/feature/config.ts';
import { InferenceOptionsProperties, StrategyNameSchema } from '../actors/inference/config.ts';
import { parseRiskLimits } from '../actors/risk/limits.ts';
import { TradingSectionSchema } from '../actors/trading-config.ts';
import { checkConfig, dateMillis, IsoDate, readJsonFile } from '../core/config-file.ts';
import { ConfigError } from '../core/errors.ts';
import { repoRoot } from './backtest-source.ts';

const NonNegative = Type.Number({ minimum: 0 });

export const BacktestConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
    data: Type.Object(
      {
        /** Data sets by name (the bundled sample-prices / sample-tweets, or the shared ones). */
        datasets: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
        symbols: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
        from: IsoDate,
        to: IsoDate,
      },
      { additionalProperties: false },
    ),
    featureSet: FeatureSetNameSchema,
    barInterval: BarIntervalSchema,
    strategy: StrategyNameSchema,
    model: Type.Object(
      {
        /** Trained at the start of the run on bars in [trainFrom, data.from). */
        kind: Type.Union([Type.Literal('logistic'), Type.Literal('mlp')]),
        trainFrom: IsoDate,
        /** Folder of <SYMBOL>.csv daily bars, relative to the repository root. */
        priceDir: Type.String({ minLength: 1 }),
        l2: Type.Optional(NonNegative),
      },
      { additionalProperties: false },
    ),
    inference: Type.Object(InferenceOptionsProperties, { additionalProperties: false }),
    /** Score the news with the sentiment model (trained at start) and fold it into the features. */
    news: Type.Boolean(),
    trading: TradingSectionSchema,
    /**
     * What the strategy is measured against (simulations/analytics.ts), from the bars the run replays:
     * one symbol's buy-and-hold, or the backtest's symbols in equal weight rebalanced every period.
     */
    benchmark: Type.Optional(
      Type.Union([
        Type.Object(
          { kind: Type.Literal('buy-and-hold'), symbol: Type.String({ minLength: 1 }) },
          { additionalProperties: false },
        ),
        Type.Object({ kind: Type.Literal('equal-weight') }, { additionalProperties: false }),
      ]),
    ),
    analytics: Type.Optional(
      Type.Object(
        {
          /** Return periods per rolling Sharpe / volatility point; a quarter of a year (63 daily) when absent. */
          rollingWindow: Type.Optional(Type.Integer({ minimum: 2 })),
          /** The block bootstrap of the returns, seeded with /seed. */
          bootstrap: Type.Optional(
            Type.Object(
              {
                samples: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
                /** Periods per block; round(n^(1/3)) when absent. */
                blockLength: Type.Optional(Type.Integer({ minimum: 1 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    seed: Type.Integer(),
  },
  { additionalProperties: false },
);

export type BacktestConfig = Static<typeof BacktestConfigSchema>;

const DAY_MS = 86_400_000;

/** Checks a parsed config; the first problem becomes a ConfigError naming the field. */
export function parseBacktestConfig(raw: unknown): BacktestConfig {
  const config = checkConfig(BacktestConfigSchema, raw, 'See README "Backtests" for the config format');
  if (dateMillis(config.data.to) <= dateMillis(config.data.from)) {
    throw new ConfigError(
      '/data/to',
      `${config.data.to} is not after /data/from ${config.data.from}`,
      'Give a later end date',
    );
  }
  if (dateMillis(config.model.trainFrom) + 30 * DAY_MS > dateMillis(config.data.from)) {
    throw new ConfigError(
      '/model/trainFrom',
      'leaves under 30 days of training data before /data/from',
      'Start training earlier',
    );
  }
  parseRiskLimits(config.trading.limits, '/trading/limits');
  checkBenchmarkSymbol(config, '/data/symbols');
  return config;
}

/** A ConfigError on `field` when a buy-and-hold benchmark's symbol is not one the run replays. */
export function checkBenchmarkSymbol(config: BacktestConfig, field: string): void {
  const benchmark = config.benchmark;
  const symbols = config.data.symbols;
  if (benchmark?.kind !== 'buy-and-hold' || symbols === undefined || symbols.includes(benchmark.symbol))
    return;
  throw new ConfigError(
    field,
    `does not hold ${benchmark.symbol}, the /benchmark/symbol: the run would replay no bars of it`,
    "Add the symbol or name one of the backtest's symbols as the benchmark",
  );
}

/**
 * A ConfigError on `field` unless model.priceDir (relative to the repository) has a `<SYMBOL>.csv`
 * for each of the config's symbols: the model is trained on them before the replay starts.
 */
export function checkModelPrices(config: BacktestConfig, field: string): void {
  const dir = resolve(repoRoot, config.model.priceDir);
  const missing = (config.data.symbols ?? []).filter((symbol) => !existsSync(join(dir, `${symbol}.csv`)));
  if (missing.length > 0) {
    throw new ConfigError(
      field,
      `no price file for ${missing.join(', ')} in ${dir} (/model/priceDir)`,
      'Use symbols that have a <SYMBOL>.csv there',
    );
  }
}

export function readBacktestConfig(path: string): BacktestConfig {
  return parseBacktestConfig(readJsonFile(path));
}
