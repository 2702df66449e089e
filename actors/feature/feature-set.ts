// Feature sets are declared here and nowhere else. A set's version is the sha256 of its canonical
// declaration (keys sorted), so any change to a period, a column or a news parameter changes the
// version that every feature row carries, and a model trained on another version can be refused.
import { createHash } from 'node:crypto';
import { ConfigError } from '../../core/errors.ts';
import { parseDuration } from './bars.ts';
import { createIndicator, type IndicatorSpec } from './indicators.ts';

export interface NewsFeatureSpec {
  /** Trailing event-time window of the news count, e.g. '1d'. */
  readonly countWindow: string;
  /** Half-life of the exponentially decayed sentiment average, e.g. '6h'. */
  readonly sentimentHalfLife: string;
}

export interface FeatureSetDeclaration {
  readonly name: string;
  readonly indicators: readonly IndicatorSpec[];
  readonly news: NewsFeatureSpec;
}

export interface FeatureSet extends FeatureSetDeclaration {
  /** sha256 (hex) of the canonical declaration. */
  readonly version: string;
  /** Indicator columns, in declaration order. */
  readonly indicatorColumns: readonly string[];
  /** News count and sentiment columns. */
  readonly newsColumns: readonly [count: string, sentiment: string];
  /** indicatorColumns then newsColumns: the order of every row. */
  readonly columns: readonly string[];
  /** Bars until every indicator has a value. */
  readonly warmupBars: number;
  readonly countWindowMs: number;
  readonly halfLifeMs: number;
}

/** JSON with object keys sorted at every level: the same declaration always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Validates a declaration (ConfigError on bad parameters) and derives its columns and version. */
export function defineFeatureSet(declaration: FeatureSetDeclaration): FeatureSet {
  const probes = declaration.indicators.map(createIndicator);
  const indicatorColumns = probes.flatMap((indicator) => indicator.columns);
  const countWindowMs = parseDuration(declaration.news.countWindow, `${declaration.name}.news.countWindow`);
  const halfLifeMs = parseDuration(
    declaration.news.sentimentHalfLife,
    `${declaration.name}.news.sentimentHalfLife`,
  );
  const newsColumns = [
    `NEWS_COUNT_${declaration.news.countWindow}`,
    `SENT_EWM_${declaration.news.sentimentHalfLife}`,
  ] as const;
  const columns = [...indicatorColumns, ...newsColumns];
  const duplicate = columns.find((name, i) => columns.indexOf(name) !== i);
  if (duplicate) {
    throw new ConfigError(
      `${declaration.name}.indicators`,
      `column ${duplicate} is declared twice`,
      'Remove one',
    );
  }
  // Only the declared fields are hashed: a FeatureSet passed back in hashes like its declaration.
  const { name, indicators, news } = declaration;
  return {
    name,
    indicators,
    news,
    version: createHash('sha256').update(canonicalJson({ name, indicators, news })).digest('hex'),
    indicatorColumns,
    newsColumns,
    columns,
    warmupBars: Math.max(1, ...probes.map((indicator) => indicator.warmup)),
    countWindowMs,
    halfLifeMs,
  };
}

const DAY_MS = 86_400_000;

export const DEFAULT_FEATURE_SET = defineFeatureSet({
  name: 'default',
  indicators: [
    { kind: 'sma', period: 20 },
    { kind: 'ema', period: 20 },
    { kind: 'rsi', period: 14 },
    { kind: 'macd', fast: 12, slow: 26, signal: 9 },
    { kind: 'bbands', period: 20, stddev: 2 },
    { kind: 'atr', period: 14 },
    { kind: 'adx', period: 14 },
    { kind: 'mfi', period: 14 },
    { kind: 'obv' },
    { kind: 'roc', period: 10 },
    { kind: 'vwap', anchorMs: DAY_MS, label: 'D' },
    { kind: 'logret_std', period: 20 },
    { kind: 'zscore', period: 20 },
  ],
  news: { countWindow: '1d', sentimentHalfLife: '6h' },
});

export const FEATURE_SETS: Readonly<Record<string, FeatureSet>> = { default: DEFAULT_FEATURE_SET };

/** Looks a set up by name; `field` names the flag or config key in the error. */
export function getFeatureSet(name: string, field = 'feature_set'): FeatureSet {
  const set = FEATURE_SETS[name];
  if (!set) {
    throw new ConfigError(
      field,
      `unknown feature set '${name}'`,
      `Use one of: ${Object.keys(FEATURE_SETS).join(', ')}`,
    );
  }
  return set;
}
