// Parametric (normal) value at risk of a book and its Euler decomposition: the marginal VaR of each
// position, ∂VaR/∂xᵢ = z·(Σx)ᵢ/σ_p, and its component VaR, xᵢ·∂VaR/∂xᵢ, which sum to the VaR because
// VaR is homogeneous of degree one in the positions (Jorion, "Value at Risk", ch. 7).
import { Matrix } from 'ml-matrix';

export interface RiskDecomposition {
  /** z·σ_p·√horizon, in the exposures' currency: the loss not exceeded with the given confidence. */
  readonly valueAtRisk: number;
  /** σ_p: the standard deviation of the book's one-period P&L. */
  readonly volatility: number;
  /** ∂VaR/∂xᵢ per position, per unit of exposure. */
  readonly marginal: readonly number[];
  /** xᵢ·∂VaR/∂xᵢ per position; they sum to valueAtRisk. */
  readonly component: readonly number[];
}

export interface RiskInput {
  /** Exposure per position in currency (signed market value), in the covariance's order. */
  readonly exposures: readonly number[];
  /** Covariance of per-period returns. */
  readonly covariance: Matrix;
  /** One-sided confidence, e.g. 0.99. */
  readonly confidence: number;
  /** Periods the VaR covers (square-root-of-time scaling); 1 when absent. */
  readonly horizonPeriods?: number;
}

export function decomposeRisk(input: RiskInput): RiskDecomposition {
  const { exposures, covariance, confidence } = input;
  const horizon = input.horizonPeriods ?? 1;
  const n = exposures.length;
  if (covariance.rows !== n || covariance.columns !== n)
    throw new RangeError('covariance must be square, one row per exposure');
  if (!exposures.every(Number.isFinite)) throw new RangeError('exposures must be finite');
  if (!(confidence > 0.5 && confidence < 1)) throw new RangeError('VaR confidence must lie in (0.5, 1)');
  if (!(horizon > 0)) throw new RangeError('VaR horizon must be > 0');
  const z = normalQuantile(confidence) * Math.sqrt(horizon);
  const sigmaX = covariance.mmul(Matrix.columnVector([...exposures])).to1DArray();
  const variance = exposures.reduce((sum, x, i) => sum + x * sigmaX[i]!, 0);
  const volatility = Math.sqrt(Math.max(0, variance));
  // A riskless book has no VaR and no contributions (the derivative is undefined at σ_p = 0).
  const marginal = sigmaX.map((value) => (volatility > 0 ? (z * value) / volatility : 0));
  return {
    valueAtRisk: z * volatility,
    volatility,
    marginal,
    component: marginal.map((m, i) => m * exposures[i]!),
  };
}

/** Σᵢ aᵢxⁱ, coefficients lowest power first. */
function polynomial(coefficients: readonly number[], x: number): number {
  let value = 0;
  for (let i = coefficients.length - 1; i >= 0; i--) value = value * x + coefficients[i]!;
  return value;
}

// Wichura (1988), Algorithm AS 241 (PPND16), Applied Statistics 37(3): accurate to about 1e-16.
const CENTRAL_NUMERATOR = [
  3.3871328727963665, 133.14166789178438, 1971.5909503065513, 13731.69376550946, 45921.95393154987,
  67265.7709270087, 33430.57558358813, 2509.0809287301227,
];
const CENTRAL_DENOMINATOR = [
  1, 42.31333070160091, 687.1870074920579, 5394.196021424751, 21213.794301586597, 39307.89580009271,
  28729.085735721943, 5226.495278852854,
];
const INNER_NUMERATOR = [
  1.4234371107496835, 4.630337846156546, 5.769497221460691, 3.6478483247632045, 1.2704582524523684,
  0.2417807251774506, 0.022723844989269184, 0.0007745450142783414,
];
const INNER_DENOMINATOR = [
  1, 2.053191626637759, 1.6763848301838038, 0.6897673349851, 0.14810397642748008, 0.015198666563616457,
  0.0005475938084995345, 1.0507500716444169e-9,
];
const TAIL_NUMERATOR = [
  6.657904643501103, 5.463784911164114, 1.7848265399172913, 0.29656057182850487, 0.026532189526576124,
  0.0012426609473880784, 0.000027115555687434876, 2.0103343992922881e-7,
];
const TAIL_DENOMINATOR = [
  1, 0.599832206555888, 0.1369298809227358, 0.014875361290850615, 0.0007868691311456133,
  0.000018463183175100548, 1.421511758316446e-7, 2.0442631033899397e-15,
];

/** The standard normal quantile Φ⁻¹(p) for p in (0, 1). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError('a normal quantile needs p in (0, 1)');
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * polynomial(CENTRAL_NUMERATOR, r)) / polynomial(CENTRAL_DENOMINATOR, r);
  }
  const r = Math.sqrt(-Math.log(q < 0 ? p : 1 - p));
  const value =
    r <= 5
      ? polynomial(INNER_NUMERATOR, r - 1.6) / polynomial(INNER_DENOMINATOR, r - 1.6)
      : polynomial(TAIL_NUMERATOR, r - 5) / polynomial(TAIL_DENOMINATOR, r - 5);
  return q < 0 ? -value : value;
}
