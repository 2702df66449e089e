// Portfolio construction's pure math: covariance estimators, the construction methods and their
// registry, the constraint set and risk decomposition. The construction actor builds on these.
export * from './black-litterman.ts';
export * from './constraints.ts';
export * from './covariance.ts';
export * from './hrp.ts';
export * from './methods.ts';
export * from './optimizer.ts';
export * from './registry.ts';
export * from './risk.ts';
export * from './types.ts';
