// Drift watch: live feature values against the reference distributions in the model manifest, over a
// rolling window of the last `window` rows. Two statistics per feature:
// - PSI over the manifest's bins (outer bins open-ended), with empty bins floored at `epsilon` so
//   the log stays finite: PSI = sum (live - ref) * ln(live / ref). Rule of thumb: < 0.1 stable,
//   0.1-0.25 moderate, > 0.25 shifted.
// - KS: the largest gap between the live empirical CDF and the reference CDF. The manifest keeps
//   the reference as min, deciles and max, so its CDF is the piecewise-linear curve through those
//   eleven points; the statistic is therefore exact to within that summary.
// Statistics are computed every `evaluateEvery` rows once the window is full (O(window) each time,
// so not per row). A feature raises one alert when it crosses a threshold and re-arms only after
// both statistics are back under them, so a lasting shift is one alert, not one per evaluation.
import type { Alert } from '../../schemas/messages.ts';
import type { FeatureDistribution } from '../../schemas/model-manifest.ts';

export interface DriftOptions {
  /** Rows in the rolling window. */
  readonly window: number;
  /** Rows between evaluations; defaults to the window. */
  readonly evaluateEvery?: number;
  readonly psiThreshold: number;
  readonly ksThreshold: number;
  /** Floor for empty bins in PSI. */
  readonly epsilon?: number;
}

export const defaultDriftOptions: DriftOptions = { window: 500, psiThreshold: 0.25, ksThreshold: 0.2 };

/** Share of `values` in each bin of `reference` (outer bins open-ended). */
function binShares(reference: FeatureDistribution, values: ArrayLike<number>): number[] {
  const bins = reference.proportions.length;
  const counts = new Array<number>(bins).fill(0);
  const { edges } = reference;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let bin = 0;
    while (bin < bins - 1 && v >= edges[bin + 1]!) bin++;
    counts[bin]!++;
  }
  return counts.map((n) => n / values.length);
}

export function populationStabilityIndex(
  reference: FeatureDistribution,
  values: ArrayLike<number>,
  epsilon = 1e-4,
): number {
  const live = binShares(reference, values);
  let psi = 0;
  reference.proportions.forEach((p, i) => {
    const e = Math.max(p, epsilon);
    const a = Math.max(live[i]!, epsilon);
    psi += (a - e) * Math.log(a / e);
  });
  return psi;
}

/** Reference CDF at x: piecewise linear through (min, 0), (decile k, k/10), (max, 1). */
function referenceCdf(reference: FeatureDistribution, x: number): number {
  const xs = [reference.min, ...reference.deciles, reference.max];
  if (x < xs[0]!) return 0;
  if (x >= xs[xs.length - 1]!) return 1;
  for (let k = 1; k < xs.length; k++) {
    const lo = xs[k - 1]!;
    const hi = xs[k]!;
    if (x < hi) return (k - 1 + (hi > lo ? (x - lo) / (hi - lo) : 1)) / 10;
  }
  return 1;
}

export function ksStatistic(reference: FeatureDistribution, values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const f = referenceCdf(reference, sorted[i]!);
    // The empirical CDF steps from i/n to (i+1)/n at this value: check both sides of the step.
    worst = Math.max(worst, Math.abs((i + 1) / n - f), Math.abs(f - i / n));
  }
  return worst;
}

export interface FeatureDrift {
  readonly feature: string;
  readonly psi: number;
  readonly ks: number;
}

export interface DriftContext {
  readonly modelId: string;
  /** Names the alert's source, e.g. `inference:<strategy>`. */
  readonly source: string;
}

/** Rolling drift of one model's input features; `observe` once per row, in the manifest's order. */
export class DriftMonitor {
  private readonly width: number;
  private readonly ring: Float64Array;
  private readonly column: Float64Array;
  private rows = 0;
  private readonly evaluateEvery: number;
  private readonly drifting: boolean[];
  /** Latest statistics per feature (empty until the window first fills). */
  latest: FeatureDrift[] = [];

  constructor(
    private readonly references: readonly FeatureDistribution[],
    private readonly context: DriftContext,
    private readonly options: DriftOptions = defaultDriftOptions,
  ) {
    if (!Number.isInteger(options.window) || options.window < 2)
      throw new RangeError('drift window must be an integer ≥ 2');
    this.width = references.length;
    this.ring = new Float64Array(options.window * this.width);
    this.column = new Float64Array(options.window);
    this.evaluateEvery = options.evaluateEvery ?? options.window;
    this.drifting = references.map(() => false);
  }

  /** Adds one row (event time `ts`, ms); returns alerts for features that just started drifting. */
  observe(values: ArrayLike<number>, ts: number): Alert[] {
    const slot = this.rows % this.options.window;
    for (let j = 0; j < this.width; j++) this.ring[slot * this.width + j] = values[j]!;
    this.rows++;
    if (this.rows < this.options.window || (this.rows - this.options.window) % this.evaluateEvery !== 0)
      return [];
    return this.evaluate(ts);
  }

  private evaluate(ts: number): Alert[] {
    const alerts: Alert[] = [];
    const n = this.options.window;
    this.latest = this.references.map((reference, j) => {
      for (let i = 0; i < n; i++) this.column[i] = this.ring[i * this.width + j]!;
      const drift = {
        feature: reference.name,
        psi: populationStabilityIndex(reference, this.column, this.options.epsilon),
        ks: ksStatistic(reference, this.column),
      };
      const over = drift.psi > this.options.psiThreshold || drift.ks > this.options.ksThreshold;
      if (over && !this.drifting[j]) alerts.push(this.alert(drift, ts));
      this.drifting[j] = over;
      return drift;
    });
    return alerts;
  }

  private alert(drift: FeatureDrift, ts: number): Alert {
    const key = `drift:${this.context.modelId}:${drift.feature}`;
    return {
      schema: 'alert.v1',
      id: `${key}:${ts}`,
      ts_event: ts,
      ts_init: ts,
      severity: 'warning',
      code: 'feature_drift',
      message: `feature ${drift.feature} drifted from model ${this.context.modelId}'s training data over the last ${this.options.window} rows: PSI ${drift.psi.toFixed(3)} (threshold ${this.options.psiThreshold}), KS ${drift.ks.toFixed(3)} (threshold ${this.options.ksThreshold})`,
      source: this.context.source,
      dedupe_key: key,
      labels: { model: this.context.modelId, feature: drift.feature },
    };
  }
}
