// The construction methods by the name a config gives (the DCA manual's plugin registry, §3.8): an
// entry says what the method does and which parameters it takes with their defaults, and builds
// the method from a config's parameters. A config naming an unknown method or parameter, or giving
// a bad value, gets a ConfigError that says which and what to do.
import { ConfigError } from '../errors.ts';
import {
  blackLitterman,
  equalWeight,
  hrp,
  inverseVolatility,
  kelly,
  meanVariance,
  minimumVariance,
  volatilityTarget,
} from './methods.ts';
import type { ConstructionMethod } from './types.ts';

export type ConstructionParams = Readonly<Record<string, number | string>>;

export interface ConstructionMethodEntry {
  readonly description: string;
  /** Every parameter the method takes, with its default. */
  readonly defaults: ConstructionParams;
  create(params?: ConstructionParams): ConstructionMethod;
}

/** The defaults overlaid with `params`, refusing a parameter the method does not take or of the wrong type. */
function resolved<T extends ConstructionParams>(
  method: string,
  defaults: T,
  params: ConstructionParams = {},
): T {
  const known = Object.keys(defaults);
  for (const [key, value] of Object.entries(params)) {
    const field = `construction method ${method}: ${key}`;
    if (!Object.hasOwn(defaults, key))
      throw new ConfigError(
        field,
        'is not a parameter of this method',
        known.length > 0 ? `Use ${known.join(', ')}` : 'It takes none',
      );
    if (typeof value !== typeof defaults[key] || (typeof value === 'number' && !Number.isFinite(value)))
      throw new ConfigError(
        field,
        `must be a finite ${typeof defaults[key]}`,
        `The default is ${defaults[key]}`,
      );
  }
  return { ...defaults, ...params };
}

function entry<T extends ConstructionParams>(
  name: string,
  description: string,
  defaults: T,
  build: (params: T) => ConstructionMethod,
): ConstructionMethodEntry {
  return {
    description,
    defaults,
    create(params) {
      const complete = resolved(name, defaults, params);
      try {
        return build(complete);
      } catch (error) {
        // A value out of its range (a negative Kelly fraction) is the config's fault too.
        if (error instanceof RangeError)
          throw new ConfigError(`construction method ${name}`, error.message, 'Fix its parameters');
        throw error;
      }
    },
  };
}

export const constructionMethods = {
  equal_weight: entry('equal_weight', 'Equal weights, fully invested within the caps', {}, () =>
    equalWeight(),
  ),
  inverse_volatility: entry('inverse_volatility', 'Weights proportional to 1/σ', {}, () =>
    inverseVolatility(),
  ),
  volatility_target: entry(
    'volatility_target',
    "Another method's weights scaled to a target annualised volatility, leverage within the caps",
    { targetVolatility: 0.1, periodsPerYear: 252, base: 'inverse_volatility' },
    ({ targetVolatility, periodsPerYear, base }) => {
      if (base === 'volatility_target') throw new RangeError('volatility_target cannot target itself');
      return volatilityTarget({ targetVolatility, periodsPerYear, base: createConstructionMethod(base) });
    },
  ),
  kelly: entry('kelly', 'Fractional Kelly per asset, c·μᵢ/σᵢ²', { fraction: 0.5 }, ({ fraction }) =>
    kelly({ fraction, multivariate: false }),
  ),
  kelly_multivariate: entry(
    'kelly_multivariate',
    'Fractional multivariate Kelly, c·Σ⁻¹μ',
    { fraction: 0.5 },
    ({ fraction }) => kelly({ fraction, multivariate: true }),
  ),
  hrp: entry('hrp', 'Hierarchical risk parity (López de Prado 2016)', {}, () => hrp()),
  black_litterman: entry(
    'black_litterman',
    'Black-Litterman posterior returns held by mean-variance',
    { riskAversion: 2.5, tau: 0.05 },
    ({ riskAversion, tau }) => blackLitterman({ riskAversion, tau }),
  ),
  minimum_variance: entry('minimum_variance', 'Minimum variance, fully invested within the caps', {}, () =>
    minimumVariance(),
  ),
  mean_variance: entry(
    'mean_variance',
    "Mean-variance, max μ'w − (δ/2)w'Σw",
    { riskAversion: 2.5 },
    ({ riskAversion }) => meanVariance({ riskAversion }),
  ),
} as const satisfies Readonly<Record<string, ConstructionMethodEntry>>;

export type ConstructionMethodName = keyof typeof constructionMethods;

export function isConstructionMethodName(name: string): name is ConstructionMethodName {
  return Object.hasOwn(constructionMethods, name);
}

/** The method a config names, built with its parameters. */
export function createConstructionMethod(name: string, params?: ConstructionParams): ConstructionMethod {
  if (!isConstructionMethodName(name))
    throw new ConfigError(
      `construction method ${name}`,
      'is not known',
      `Use one of ${Object.keys(constructionMethods).join(', ')}`,
    );
  return constructionMethods[name].create(params);
}
