// The inference actor's part of a run or backtest config: the strategy it signals for (also the
// registry key of its model) and how it batches and reads the model's probabilities.
import { Type } from '@sinclair/typebox';

/** Signals go to sig.<strategy>.*; the strategy's active model is read from the registry. */
export const StrategyNameSchema = Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' });

export const InferenceOptionsProperties = {
  maxBatchSize: Type.Integer({ minimum: 1 }),
  maxWaitMs: Type.Integer({ minimum: 0 }),
  neutralBand: Type.Number({ minimum: 0, maximum: 1 }),
};
