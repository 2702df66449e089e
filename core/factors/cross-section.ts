// From per-instrument factor values to portfolio weights, one cross-section (one as-of time) at a
// time: winsorize -> z-score -> neutralise -> rank -> weights. Each step is a pure function over a map
// from instrument to value that keeps the map's order, so the same inputs give the same weights.
import { Matrix, solve } from 'ml-matrix';
import { ConfigError } from '../errors.ts';
import type { BarInput } from '../money-flow.ts';
import type { Factor } from './registry.ts';

export type CrossSection = ReadonlyMap<string, number>;

export interface FactorCrossSection {
  /** Instrument -> factor value as of `asOf`. */
  readonly values: Map<string, number>;
  /** Instrument -> why it has no value (too short a history, a bad bar, a non-finite result). */
  readonly missing: Map<string, string>;
}

/** Index of the last bar with ts_event <= asOf, or -1 (bars sorted by ts_event). */
function lastAtOrBefore(bars: readonly BarInput[], asOf: number): number {
  let low = 0;
  let high = bars.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (bars[middle]!.ts_event <= asOf) low = middle + 1;
    else high = middle;
  }
  return low - 1;
}

/** Why the factor's window of bars ending at `end` cannot be used, or undefined when it can. */
function windowProblem(bars: readonly BarInput[], start: number, end: number): string | undefined {
  for (let i = start; i <= end; i++) {
    const bar = bars[i]!;
    if (i > start && !(bar.ts_event > bars[i - 1]!.ts_event))
      return `bars out of time order at ${bar.ts_event}`;
    for (const field of ['high', 'low', 'close'] as const) {
      if (!(bar[field] > 0 && Number.isFinite(bar[field])))
        return `${field} ${bar[field]} at ${bar.ts_event}`;
    }
    if (!(bar.volume >= 0 && Number.isFinite(bar.volume))) return `volume ${bar.volume} at ${bar.ts_event}`;
  }
  return undefined;
}

/**
 * The factor for every instrument as of `asOf` (ms), from its bars with ts_event <= asOf only: a bar
 * closing later is never read, whether or not it is in `histories` (bars sorted by ts_event, the bar
 * close). An instrument without a value is in `missing` with the reason, never silently dropped.
 */
export function factorCrossSection(
  factor: Factor,
  histories: ReadonlyMap<string, readonly BarInput[]>,
  asOf: number,
): FactorCrossSection {
  const values = new Map<string, number>();
  const missing = new Map<string, string>();
  for (const [instrument, bars] of histories) {
    const end = lastAtOrBefore(bars, asOf);
    const start = end + 1 - factor.lookback;
    if (start < 0) {
      missing.set(instrument, `${end + 1} bars up to ${asOf}, ${factor.name} needs ${factor.lookback}`);
      continue;
    }
    const problem = windowProblem(bars, start, end);
    if (problem !== undefined) {
      missing.set(instrument, problem);
      continue;
    }
    const value = factor.compute(bars.slice(start, end + 1));
    if (Number.isFinite(value)) values.set(instrument, value);
    else missing.set(instrument, `${factor.name} is ${value}`);
  }
  return { values, missing };
}

function checkFinite(values: CrossSection, step: string): void {
  for (const [instrument, value] of values) {
    if (!Number.isFinite(value)) {
      throw new ConfigError(`${step} ${instrument}`, `is ${value}`, 'Leave instruments without a value out');
    }
  }
}

/** The p-quantile of sorted values, interpolating linearly between order statistics (numpy's default). */
function quantile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const below = Math.floor(h);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (h - below) * (sorted[above]! - sorted[below]!);
}

/**
 * A composite score: the weighted sum of each factor's scores (z-scores, so the factors share a scale)
 * for the instruments every factor scored; the others are returned with the factors they lack.
 */
export function combineFactorScores(
  scoresByFactor: ReadonlyMap<string, CrossSection>,
  factorWeights: ReadonlyMap<string, number>,
): { readonly scores: Map<string, number>; readonly incomplete: Map<string, string[]> } {
  for (const [factor, weight] of factorWeights) {
    if (!scoresByFactor.has(factor) || !Number.isFinite(weight)) {
      throw new ConfigError(
        `factor weight ${factor}`,
        `is ${weight} with no scores or not finite`,
        'Weigh scored factors only',
      );
    }
  }
  const instruments = new Set<string>();
  for (const [factor, scores] of scoresByFactor) {
    checkFinite(scores, `factor ${factor}`);
    for (const id of scores.keys()) instruments.add(id);
  }
  const scores = new Map<string, number>();
  const incomplete = new Map<string, string[]>();
  for (const id of instruments) {
    const lacking = [...factorWeights.keys()].filter((factor) => !scoresByFactor.get(factor)!.has(id));
    if (lacking.length > 0) {
      incomplete.set(id, lacking);
      continue;
    }
    let total = 0;
    for (const [factor, weight] of factorWeights) total += weight * scoresByFactor.get(factor)!.get(id)!;
    scores.set(id, total);
  }
  return { scores, incomplete };
}

/** Clips values to their `lower` and `upper` quantiles (0 <= lower <= upper <= 1). */
export function winsorize(values: CrossSection, lower: number, upper: number): Map<string, number> {
  checkFinite(values, 'winsorize');
  if (!(lower >= 0 && lower <= upper && upper <= 1)) {
    throw new ConfigError('winsorize', `quantiles ${lower}, ${upper} out of order`, 'Use e.g. 0.01 and 0.99');
  }
  const out = new Map<string, number>();
  if (values.size === 0) return out;
  const sorted = [...values.values()].sort((a, b) => a - b);
  const low = quantile(sorted, lower);
  const high = quantile(sorted, upper);
  for (const [instrument, value] of values) out.set(instrument, Math.min(high, Math.max(low, value)));
  return out;
}

/**
 * (value - mean) / sample standard deviation (n - 1) across the cross-section. With fewer than two
 * values or no dispersion every score is 0: nothing sets one instrument apart.
 */
export function zScores(values: CrossSection): Map<string, number> {
  checkFinite(values, 'z-score');
  const n = values.size;
  let mean = 0;
  for (const value of values.values()) mean += value / n;
  let squares = 0;
  for (const value of values.values()) squares += (value - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(squares / (n - 1)) : 0;
  const out = new Map<string, number>();
  for (const [instrument, value] of values) out.set(instrument, sd > 0 ? (value - mean) / sd : 0);
  return out;
}

/** What a cross-section is neutralised against; every instrument must appear in each part given. */
export interface Neutralization {
  /** Instrument -> group (sector, industry, country): the scores are demeaned within each group. */
  readonly groups?: ReadonlyMap<string, string>;
  /** Exposures (instrument -> value each, e.g. beta or size) the residual is made uncorrelated with. */
  readonly exposures?: readonly CrossSection[];
}

/**
 * The residual of the least-squares regression of the values on the group dummies (or an intercept
 * when no groups are given) and the exposures: what is left has mean 0 in every group and no linear
 * relation to any exposure. Solved by SVD, so collinear columns (a constant exposure) do no harm.
 */
export function neutralize(values: CrossSection, by: Neutralization): Map<string, number> {
  checkFinite(values, 'neutralize');
  const instruments = [...values.keys()];
  const groupNames =
    by.groups === undefined ? [] : [...new Set(instruments.map((id) => groupOf(by.groups!, id)))];
  const exposures = by.exposures ?? [];
  exposures.forEach((exposure, k) => {
    for (const id of instruments) {
      const value = exposure.get(id);
      if (value === undefined || !Number.isFinite(value)) {
        throw new ConfigError(
          `neutralize exposure ${k} ${id}`,
          `is ${value}`,
          'Give every instrument a finite exposure',
        );
      }
    }
  });
  const design = instruments.map((id) => [
    ...(by.groups === undefined ? [1] : groupNames.map((g) => (by.groups!.get(id) === g ? 1 : 0))),
    ...exposures.map((exposure) => exposure.get(id)!),
  ]);
  const out = new Map<string, number>();
  if (instruments.length === 0) return out;
  const x = new Matrix(design);
  const y = Matrix.columnVector(instruments.map((id) => values.get(id)!));
  const fitted = x.mmul(solve(x, y, true));
  instruments.forEach((id, i) => {
    out.set(id, y.get(i, 0) - fitted.get(i, 0));
  });
  return out;
}

function groupOf(groups: ReadonlyMap<string, string>, id: string): string {
  const group = groups.get(id);
  if (group === undefined)
    throw new ConfigError(`neutralize group ${id}`, 'is missing', 'Give every instrument a group');
  return group;
}

/** Ranks 1..n, ascending; tied values share the mean of the ranks they span. */
export function ranks(values: CrossSection): Map<string, number> {
  checkFinite(values, 'rank');
  const entries = [...values].sort((a, b) => a[1] - b[1]);
  const rankOf = new Map<string, number>();
  for (let i = 0; i < entries.length; ) {
    let j = i;
    while (j + 1 < entries.length && entries[j + 1]![1] === entries[i]![1]) j++;
    for (let k = i; k <= j; k++) rankOf.set(entries[k]![0], (i + j) / 2 + 1);
    i = j + 1;
  }
  const out = new Map<string, number>();
  for (const instrument of values.keys()) out.set(instrument, rankOf.get(instrument)!);
  return out;
}

export type WeightSide = 'long_short' | 'long_only';

/**
 * Weights from ranks, centred at the middle rank (n + 1) / 2. long_short: weights proportional to the
 * centred rank, summing to 0 with absolute values summing to `gross`. long_only: only the upper half,
 * proportional to the centred rank, summing to `gross`. With every rank equal there is no view:
 * long_short gives zeros, long_only equal weights.
 */
export function rankWeights(rankings: CrossSection, side: WeightSide, gross = 1): Map<string, number> {
  checkFinite(rankings, 'rank weights');
  if (!(gross >= 0 && Number.isFinite(gross))) {
    throw new ConfigError('rank weights gross', `must be a finite number >= 0, got ${gross}`, 'Use e.g. 1');
  }
  const middle = (rankings.size + 1) / 2;
  const centred = new Map<string, number>();
  for (const [instrument, rank] of rankings) {
    centred.set(instrument, side === 'long_short' ? rank - middle : Math.max(0, rank - middle));
  }
  let total = 0;
  for (const value of centred.values()) total += Math.abs(value);
  const out = new Map<string, number>();
  for (const [instrument, value] of centred) {
    if (total > 0) out.set(instrument, (gross * value) / total);
    else out.set(instrument, side === 'long_short' ? 0 : gross / rankings.size);
  }
  return out;
}

export interface CrossSectionalSteps {
  /** Quantiles to clip at; absent, no winsorizing. */
  readonly winsorize?: { readonly lower: number; readonly upper: number };
  /** Absent, no neutralising. */
  readonly neutralize?: Neutralization;
  readonly side: WeightSide;
  /** Sum of absolute weights. Default 1. */
  readonly gross?: number;
}

export interface CrossSectionalResult {
  readonly winsorized: Map<string, number>;
  readonly zScores: Map<string, number>;
  readonly neutralized: Map<string, number>;
  readonly ranks: Map<string, number>;
  readonly weights: Map<string, number>;
}

/** winsorize -> z-score -> neutralise -> rank -> weights, keeping every intermediate for reports. */
export function crossSectionalWeights(
  values: CrossSection,
  steps: CrossSectionalSteps,
): CrossSectionalResult {
  const winsorized = steps.winsorize
    ? winsorize(values, steps.winsorize.lower, steps.winsorize.upper)
    : new Map(values);
  const scores = zScores(winsorized);
  const neutralized = steps.neutralize ? neutralize(scores, steps.neutralize) : new Map(scores);
  const ranked = ranks(neutralized);
  return {
    winsorized,
    zScores: scores,
    neutralized,
    ranks: ranked,
    weights: rankWeights(ranked, steps.side, steps.gross ?? 1),
  };
}
