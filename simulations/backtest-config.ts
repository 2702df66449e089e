// The backtest configuration file: one JSON document naming the data, feature set, model, sizing,
// risk limits and venue models. Checked against a TypeBox schema; the first problem stops the run with
// a ConfigError naming the field (as a JSON pointer, e.g. /trading/venue/fee/takerBps).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import type { SimulatedVenueOptions } from '../actors/execution/simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
  RandomLatency,
  SpreadSlippage,
} from '../actors/execution/venue-models.ts';
import { parseRiskLimits } from '../actors/risk/limits.ts';
import { FixedNotionalSizer, KellySizer, type Sizer, VolatilityTargetSizer } from '../actors/risk/sizing.ts';
import { checkConfig, dateMillis, IsoDate, readJsonFile } from '../core/config-file.ts';
import { ConfigError } from '../core/errors.ts';
import { SeededRandom } from '../core/random.ts';
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
    featureSet: Type.String({ minLength: 1 }),
    barInterval: Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)$' }),
    strategy: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
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
    inference: Type.Object(
      {
        maxBatchSize: Type.Integer({ minimum: 1 }),
        maxWaitMs: Type.Integer({ minimum: 0 }),
        neutralBand: Type.Number({ minimum: 0, maximum: 1 }),
      },
      { additionalProperties: false },
    ),
    /** Score the news with the sentiment model (trained at start) and fold it into the features. */
    news: Type.Boolean(),
    trading: Type.Object(
      {
        account: Type.String({ minLength: 1 }),
        startingCash: Type.Number({ exclusiveMinimum: 0 }),
        sizing: Type.Union([
          Type.Object({
            kind: Type.Literal('fixed-notional'),
            notional: Type.Number({ exclusiveMinimum: 0 }),
          }),
          Type.Object({
            kind: Type.Literal('volatility-target'),
            targetVolatility: Type.Number({ exclusiveMinimum: 0 }),
            maxLeverage: Type.Number({ exclusiveMinimum: 0 }),
          }),
          Type.Object({
            kind: Type.Literal('kelly'),
            fraction: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
            cap: Type.Number({ exclusiveMinimum: 0 }),
          }),
        ]),
        /** Passed to the risk gate's limit parser; a missing limit denies (fail closed). */
        limits: Type.Record(Type.String(), Type.Unknown()),
        venue: Type.Object(
          {
            latency: Type.Union([
              Type.Object({ kind: Type.Literal('fixed'), ms: NonNegative }),
              Type.Object({ kind: Type.Literal('random'), minMs: NonNegative, maxMs: NonNegative }),
            ]),
            slippage: Type.Union([
              Type.Object({ kind: Type.Literal('bps'), bps: NonNegative }),
              Type.Object({ kind: Type.Literal('spread'), fraction: NonNegative }),
            ]),
            fee: Type.Object({ makerBps: NonNegative, takerBps: NonNegative, minimum: NonNegative }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
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
  return config;
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

export function sizerFor(sizing: BacktestConfig['trading']['sizing']): Sizer {
  switch (sizing.kind) {
    case 'fixed-notional':
      return new FixedNotionalSizer(sizing.notional);
    case 'volatility-target':
      return new VolatilityTargetSizer(sizing.targetVolatility, sizing.maxLeverage);
    case 'kelly':
      return new KellySizer(sizing.fraction, sizing.cap);
  }
}

export function venueFor(venue: BacktestConfig['trading']['venue'], seed: number): SimulatedVenueOptions {
  return {
    latency:
      venue.latency.kind === 'fixed'
        ? new FixedLatency(venue.latency.ms)
        : new RandomLatency(venue.latency.minMs, venue.latency.maxMs, new SeededRandom(seed)),
    fill: new NextTickFillModel(),
    slippage:
      venue.slippage.kind === 'bps'
        ? new BpsSlippage(venue.slippage.bps)
        : new SpreadSlippage(venue.slippage.fraction),
    fee: new MakerTakerFee(venue.fee.makerBps, venue.fee.takerBps, venue.fee.minimum),
  };
}
