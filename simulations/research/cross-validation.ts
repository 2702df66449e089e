// Purged and embargoed cross-validation (López de Prado, AFML ch. 7). Samples whose label windows
// reach into the test period leak its outcome into training, so they are purged; samples just after
// the test period are correlated with it through features built from overlapping history, so an
// embargo of a fraction of the samples after each test fold is kept out of training as well.

/** A sample's label window on a common, monotone time axis (bar index or timestamp). */
export interface LabelWindow {
  readonly start: number;
  readonly end: number;
}

export interface PurgedCvConfig {
  /** Number of test folds. */
  readonly folds: number;
  /** Samples after each test fold kept out of training, as a fraction of all samples. */
  readonly embargoFraction?: number;
  /**
   * 'walk-forward': train only on samples before the test fold (expanding window; the samples are
   * split into folds + 1 blocks and the first block is only ever trained on).
   * 'purged-k-fold': train on both sides of the test fold (the samples are split into `folds` blocks).
   */
  readonly scheme?: 'walk-forward' | 'purged-k-fold';
}

export interface CvFold {
  readonly fold: number;
  /** Sample indices, ascending. */
  readonly train: number[];
  readonly test: number[];
  /** Time interval no training label window may touch: the test fold and its embargo. */
  readonly forbidden: LabelWindow;
  /** How many samples were dropped from training by purge or embargo. */
  readonly purged: number;
}

export const defaultEmbargoFraction = 0.01;

/**
 * Splits samples (sorted by window start) into time-ordered folds. A training sample is kept only
 * if its whole label window lies before the test fold's first start or after the forbidden
 * interval's end, where that interval runs from the first test start to the later of the last test
 * label end and the start of the last embargoed sample.
 */
export function purgedWalkForwardSplits(windows: readonly LabelWindow[], config: PurgedCvConfig): CvFold[] {
  const n = windows.length;
  const scheme = config.scheme ?? 'walk-forward';
  const embargoFraction = config.embargoFraction ?? defaultEmbargoFraction;
  if (!Number.isInteger(config.folds) || config.folds < 1) throw new RangeError('folds must be ≥ 1');
  if (!(embargoFraction >= 0 && embargoFraction < 1))
    throw new RangeError('embargoFraction must be in [0, 1)');
  const blocks = scheme === 'walk-forward' ? config.folds + 1 : config.folds;
  if (n < blocks) throw new RangeError(`need at least ${blocks} samples for ${config.folds} folds`);
  for (let i = 0; i < n; i++) {
    const w = windows[i]!;
    if (!(w.end >= w.start)) throw new RangeError(`sample ${i}: label window ends before it starts`);
    if (i > 0 && w.start < windows[i - 1]!.start)
      throw new RangeError('samples must be sorted by window start');
  }
  const embargo = Math.ceil(embargoFraction * n);
  const blockStart = (b: number): number => Math.floor((b * n) / blocks);

  const folds: CvFold[] = [];
  const firstTestBlock = scheme === 'walk-forward' ? 1 : 0;
  for (let b = firstTestBlock; b < blocks; b++) {
    const testFrom = blockStart(b);
    const testTo = blockStart(b + 1); // exclusive
    let forbiddenEnd = Number.NEGATIVE_INFINITY;
    for (let i = testFrom; i < testTo; i++) forbiddenEnd = Math.max(forbiddenEnd, windows[i]!.end);
    const lastEmbargoed = Math.min(testTo - 1 + embargo, n - 1);
    forbiddenEnd = Math.max(forbiddenEnd, windows[lastEmbargoed]!.start);
    const forbidden = { start: windows[testFrom]!.start, end: forbiddenEnd };

    const candidates = scheme === 'walk-forward' ? testFrom : n - (testTo - testFrom);
    const train: number[] = [];
    const keep = (i: number): void => {
      const w = windows[i]!;
      if (w.end < forbidden.start || w.start > forbidden.end) train.push(i);
    };
    for (let i = 0; i < testFrom; i++) keep(i);
    if (scheme === 'purged-k-fold') for (let i = testTo; i < n; i++) keep(i);
    const test: number[] = [];
    for (let i = testFrom; i < testTo; i++) test.push(i);
    folds.push({ fold: folds.length, train, test, forbidden, purged: candidates - train.length });
  }
  return folds;
}
