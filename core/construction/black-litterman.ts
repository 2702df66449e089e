// Black-Litterman (Black & Litterman 1992; He & Litterman 1999): the returns implied by an
// equilibrium portfolio, moved towards the views by Bayes' rule.
//   prior      π = δΣw_eq                         (δ risk aversion, w_eq market or equal weights)
//   posterior  μ = π + τΣP'(PτΣP' + Ω)⁻¹(Q − Pπ)
// This form needs no Ω⁻¹, so a certain view (Ω = 0) is allowed. Ω is diagonal and comes from each
// view's confidence c by the closed form of Idzorek's method that PyPortfolioOpt uses (Walters 2014):
//   Ωₖₖ = τ · (1 − c)/c · pₖΣpₖ'
// so c = 1 holds the view exactly, c = ½ is He & Litterman's Ω = diag(PτΣP'), and c → 0 ignores it.
// For one view the weights (δΣ)⁻¹μ then move from w_eq by p'·c·(q − p'π)/(δ·p'Σp), along p only.
import { Matrix, solve } from 'ml-matrix';
import type { View } from './types.ts';

/** π = δΣw. */
export function equilibriumReturns(
  covariance: readonly (readonly number[])[],
  weights: readonly number[],
  riskAversion: number,
): number[] {
  return covariance.map((row) => riskAversion * row.reduce((sum, value, j) => sum + value * weights[j]!, 0));
}

/**
 * A view from a model's probability that `symbol` goes up over the covariance's period: the
 * expected return of a move of ±`volatility` taken with that probability, (2p − 1)·σ.
 */
export function probabilityView(
  symbol: string,
  probabilityUp: number,
  volatility: number,
  confidence: number,
): View {
  if (!(probabilityUp >= 0 && probabilityUp <= 1))
    throw new RangeError('a view probability must lie in [0, 1]');
  if (!(volatility >= 0)) throw new RangeError('a view volatility must be ≥ 0');
  return { assets: { [symbol]: 1 }, expectedReturn: (2 * probabilityUp - 1) * volatility, confidence };
}

/** The posterior expected returns μ given the prior π, the views and τ. */
export function posteriorReturns(
  symbols: readonly string[],
  covariance: readonly (readonly number[])[],
  prior: readonly number[],
  views: readonly View[],
  tau: number,
): number[] {
  if (views.length === 0) return [...prior];
  if (!(tau > 0)) throw new RangeError('Black-Litterman tau must be > 0');
  const index = new Map(symbols.map((symbol, i) => [symbol, i]));
  const sigma = new Matrix(covariance.map((row) => [...row]));
  const p = new Matrix(views.length, symbols.length);
  views.forEach((view, k) => {
    if (!(view.confidence > 0 && view.confidence <= 1))
      throw new RangeError('a view confidence must lie in (0, 1]');
    if (!Number.isFinite(view.expectedReturn)) throw new RangeError('a view expected return must be finite');
    for (const [symbol, loading] of Object.entries(view.assets)) {
      const i = index.get(symbol);
      if (i === undefined) throw new RangeError(`a view names ${symbol}, which is not among the symbols`);
      if (!Number.isFinite(loading)) throw new RangeError('a view loading must be finite');
      p.set(k, i, loading);
    }
  });
  const tauSigmaPt = sigma.mmul(p.transpose()).mul(tau);
  const middle = p.mmul(tauSigmaPt);
  views.forEach((view, k) => {
    const omega = ((1 - view.confidence) / view.confidence) * middle.get(k, k);
    middle.set(k, k, middle.get(k, k) + omega);
  });
  const surprise = Matrix.columnVector(
    views.map((view, k) => view.expectedReturn - p.getRow(k).reduce((s, v, i) => s + v * prior[i]!, 0)),
  );
  const shift = tauSigmaPt.mmul(solve(middle, surprise)).to1DArray();
  return prior.map((pi, i) => pi + shift[i]!);
}
