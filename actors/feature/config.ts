// The feature actor's part of a run or backtest config: the feature set it computes and the bar
// interval it builds.
import { Type } from '@sinclair/typebox';

/** A name in FEATURE_SETS (checked by getFeatureSet when the actor starts). */
export const FeatureSetNameSchema = Type.String({ minLength: 1 });
export const BarIntervalSchema = Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)$' });
