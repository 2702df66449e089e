// The `backtest` sweep job kind: one replay backtest through the real actor pipeline (runBacktest,
// in-process bus), from the files the config names, read as `sluice backtest --source file` reads them.
//
// A job's params carry everything a worker on another machine needs:
// - `config`: the backtest config inline (what `sluice sweep submit` sends) or a path relative to the
//   repository root;
// - `dataDir` (optional): the shared data folder, relative to the repository root or absolute; default
//   `../shared/data` next to the worker's checkout (the bundled sample data sets need none);
// - every other key is an override of one config field by its dotted path, e.g.
//   `trading.sizing.notional`, `inference.neutralBand`, `model.l2`, `data.from`. A walk-forward fold sets
//   `model.trainFrom` (fold train start), `data.from` (test start) and `data.to` (test end).
// A path that is not a config field, or a value the config schema refuses, is a ConfigError naming the
// field; the worker stores it as the job's failure without retrying.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { Kind, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { dateMillis, readJsonFile } from '../core/config-file.ts';
import { ConfigError } from '../core/errors.ts';
import { type BacktestSummary, runBacktest } from './backtest.ts';
import { type BacktestConfig, BacktestConfigSchema, parseBacktestConfig } from './backtest-config.ts';
import { bundledSampleDir, configFileSource, defaultSharedDataDir, repoRoot } from './backtest-source.ts';
import { canonicalJson, type JsonValue } from './ledger.ts';
import {
  gridJobs,
  type SweepJob,
  type SweepJobRunner,
  type SweepParams,
  type SweepResultDetails,
  walkForwardFolds,
} from './sweep-queue.ts';

export const BACKTEST_JOB_KIND = 'backtest';
/** Params that are not config overrides. */
export const BACKTEST_JOB_RESERVED = ['config', 'dataDir'] as const;
const DAY_MS = 86_400_000;
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The schemas a union may be, flattened; any other schema as itself. */
function variants(schema: TSchema): TSchema[] {
  return schema[Kind] === 'Union' ? (schema.anyOf as TSchema[]).flatMap(variants) : [schema];
}

/**
 * Checks that `path` (dotted, e.g. `trading.sizing.notional`) names a field of the backtest config
 * schema; a field of any variant of a union counts (`trading.sizing.notional` exists for fixed-notional
 * sizing), and anything under a free-form record (`trading.limits.*`) is left to the record's own parser.
 * Returns the schemas a value at the path may have.
 */
export function checkOverridePath(path: string): TSchema[] {
  const segments = path.split('.');
  if (segments.some((segment) => segment === '' || FORBIDDEN_SEGMENTS.has(segment)))
    throw new ConfigError(path, 'is not a config field path', 'Use dotted field names, e.g. model.l2');
  let candidates: TSchema[] = [BacktestConfigSchema];
  for (const [index, segment] of segments.entries()) {
    const next: TSchema[] = [];
    const known = new Set<string>();
    for (const schema of candidates.flatMap(variants)) {
      const kind = schema[Kind];
      if (kind === 'Object') {
        const properties = schema.properties as Record<string, TSchema>;
        for (const key of Object.keys(properties)) known.add(key);
        if (Object.hasOwn(properties, segment)) next.push(properties[segment]!);
      } else if (kind === 'Record') {
        next.push(...(Object.values(schema.patternProperties ?? {}) as TSchema[]));
      } else if (kind === 'Unknown' || kind === 'Any') {
        next.push(schema);
      }
    }
    if (next.length === 0) {
      const parent = segments.slice(0, index).join('.') || 'the config';
      throw new ConfigError(
        path,
        known.size > 0
          ? `is not a backtest config field (${parent} has no "${segment}")`
          : `is not a backtest config field (${parent} has no fields to override)`,
        known.size > 0 ? `Fields of ${parent}: ${[...known].join(', ')}` : `Override ${parent} as a whole`,
      );
    }
    candidates = next;
  }
  return candidates;
}

/** Checks an override's value against the field's schema(s), so the error names the field itself. */
function checkOverrideValue(path: string, schemas: readonly TSchema[], value: JsonValue): void {
  const options = schemas.flatMap(variants);
  if (options.some((schema) => Value.Check(schema, value))) return;
  const first = Value.Errors(options[0]!, value).First();
  throw new ConfigError(
    path,
    `${first?.message.toLowerCase() ?? 'is not a valid value'}, got ${JSON.stringify(value)}`,
    'Fix the override value',
  );
}

/** A copy of `raw` with each override set at its dotted path; paths are checked first. */
export function applyConfigOverrides(raw: unknown, overrides: { readonly [path: string]: JsonValue }): Node {
  if (!isNode(raw)) throw new ConfigError('config', 'is not a JSON object', 'Give a backtest config object');
  const config = structuredClone(raw);
  for (const [path, value] of Object.entries(overrides)) {
    checkOverrideValue(path, checkOverridePath(path), value);
    const segments = path.split('.');
    let node = config;
    for (const segment of segments.slice(0, -1)) {
      if (!isNode(node[segment])) node[segment] = {};
      node = node[segment] as Node;
    }
    node[segments.at(-1)!] = structuredClone(value);
  }
  return config;
}

function baseConfig(params: SweepParams): unknown {
  const config = params.config;
  if (typeof config === 'string') return readJsonFile(resolve(repoRoot, config), 'config');
  if (isNode(config)) return config;
  throw new ConfigError(
    'config',
    config === undefined ? 'is missing' : 'must be a config object or a path',
    'Give the backtest config inline or its path relative to the repository root',
  );
}

/** The job's overrides: every param but the reserved ones. */
export function backtestJobOverrides(params: SweepParams): { [path: string]: JsonValue } {
  return Object.fromEntries(
    Object.entries(params).filter(([key]) => !(BACKTEST_JOB_RESERVED as readonly string[]).includes(key)),
  );
}

/**
 * Checks that an override lands on a field the (valid) config uses: a field of another union variant
 * (`trading.sizing.cap` while sizing is fixed-notional) would be carried along and ignored.
 */
function checkOverrideApplies(config: BacktestConfig, path: string): void {
  const segments = path.split('.');
  let schemas: TSchema[] = [BacktestConfigSchema];
  let node: unknown = config;
  for (const [index, segment] of segments.entries()) {
    const next: TSchema[] = [];
    for (const schema of schemas.flatMap(variants).filter((variant) => Value.Check(variant, node))) {
      const kind = schema[Kind];
      if (kind === 'Object' && Object.hasOwn(schema.properties, segment))
        next.push(schema.properties[segment]);
      else if (kind === 'Record') next.push(...(Object.values(schema.patternProperties ?? {}) as TSchema[]));
      else if (kind === 'Unknown' || kind === 'Any') next.push(schema);
    }
    if (next.length === 0) {
      const parent = segments.slice(0, index).join('.');
      const variant =
        isNode(node) && typeof node.kind === 'string' ? `${parent} is of kind "${node.kind}"` : parent;
      throw new ConfigError(
        path,
        `does not apply: ${variant}, which has no "${segment}"`,
        `Override ${parent} as a whole with a variant that has "${segment}"`,
      );
    }
    schemas = next;
    node = isNode(node) ? node[segment] : undefined;
  }
}

/** The job's config: its base config with the overrides applied, checked like a config file. */
export function backtestJobConfig(params: SweepParams): BacktestConfig {
  const overrides = backtestJobOverrides(params);
  const config = parseBacktestConfig(applyConfigOverrides(baseConfig(params), overrides));
  for (const path of Object.keys(overrides)) checkOverrideApplies(config, path);
  return config;
}

function jobDataDir(params: SweepParams): string {
  const dataDir = params.dataDir;
  if (dataDir === undefined) return defaultSharedDataDir;
  if (typeof dataDir !== 'string' || dataDir === '')
    throw new ConfigError('dataDir', 'must be a folder path', 'Give the shared data folder');
  return isAbsolute(dataDir) ? dataDir : resolve(repoRoot, dataDir);
}

/** Same params, same run id: `<config name>-<first 12 hex of sha256(params)>`. */
export function backtestJobRunId(config: BacktestConfig, params: SweepParams): string {
  return `${config.name}-${createHash('sha256').update(canonicalJson(params)).digest('hex').slice(0, 12)}`;
}

/** Runs the job's backtest in-process; the trained models and report go to a scratch folder, removed after. */
export async function runBacktestJob(params: SweepParams): Promise<BacktestSummary> {
  const config = backtestJobConfig(params);
  const { events } = configFileSource(config, jobDataDir(params));
  const scratch = mkdtempSync(join(tmpdir(), 'sluice-job-'));
  try {
    return await runBacktest({
      config,
      runId: backtestJobRunId(config, params),
      mode: 'inprocess',
      events,
      reportDir: scratch,
      sentimentDataDir: join(bundledSampleDir, 'sentiment'),
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export const backtestJobRunner: SweepJobRunner = {
  kind: BACKTEST_JOB_KIND,
  async run(params) {
    const summary = await runBacktestJob(params);
    const details: SweepResultDetails = {
      ledgerHash: summary.ledgerHash,
      signalHash: summary.signalHash,
      events: summary.events,
      signals: summary.signals,
      orders: summary.orders,
      fills: summary.fills,
      denials: summary.denials,
    };
    return { metrics: summary.metrics, details };
  },
};

// ---- Building a sweep of backtest jobs (what `sluice sweep submit` does) ----

export type SweepGrid = { readonly [path: string]: readonly JsonValue[] };

/** `--grid` JSON: an object of non-empty arrays keyed by config field paths. */
export function parseSweepGrid(text: string, flag = '--grid'): SweepGrid {
  const example = `e.g. ${flag} '{"trading.sizing.notional":[25000,50000]}'`;
  let grid: unknown;
  try {
    grid = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(flag, `is not JSON: ${(error as Error).message}`, example);
  }
  if (!isNode(grid)) throw new ConfigError(flag, 'must be a JSON object of value lists', example);
  for (const [path, values] of Object.entries(grid)) {
    if (!Array.isArray(values) || values.length === 0)
      throw new ConfigError(`${flag} ${path}`, 'must be a non-empty list of values', example);
    if (!(BACKTEST_JOB_RESERVED as readonly string[]).includes(path)) checkOverridePath(path);
  }
  return grid as SweepGrid;
}

/** `TRAIN:TEST` in days, e.g. `365d:90d`. */
export function parseWalkForward(
  spec: string,
  flag = '--walk-forward',
): { trainDays: number; testDays: number } {
  const match = /^(\d+)d:(\d+)d$/.exec(spec.trim());
  const trainDays = Number(match?.[1]);
  const testDays = Number(match?.[2]);
  if (!match || trainDays < 1 || testDays < 1)
    throw new ConfigError(flag, `"${spec}" is not TRAIN:TEST in whole days`, `e.g. ${flag} 365d:90d`);
  return { trainDays, testDays };
}

export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export interface FoldOverrides {
  'model.trainFrom': string;
  'data.from': string;
  'data.to': string;
}

/**
 * Rolling walk-forward folds over [from, to) as config overrides: train `trainDays` (the model's
 * training window, which ends where the test starts), test the next `testDays`, step `testDays`. A last
 * test window that would run past `to` is dropped; none fitting is a ConfigError.
 */
export function walkForwardOverrides(
  from: string,
  to: string,
  window: { trainDays: number; testDays: number },
  flag = '--walk-forward',
): FoldOverrides[] {
  for (const [name, date] of [
    ['--from', from],
    ['--to', to],
  ] as const)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(dateMillis(date)))
      throw new ConfigError(name, `not a date: "${date}"`, 'Use YYYY-MM-DD');
  if (dateMillis(to) <= dateMillis(from))
    throw new ConfigError('--to', `${to} is not after --from ${from}`, 'Give a later end date');
  const folds = walkForwardFolds(
    dateMillis(from),
    dateMillis(to),
    window.trainDays * DAY_MS,
    window.testDays * DAY_MS,
  );
  if (folds.length === 0)
    throw new ConfigError(
      flag,
      `no ${window.trainDays}d train + ${window.testDays}d test fold fits between ${from} and ${to}`,
      'Widen --from/--to or shorten the windows',
    );
  return folds.map((fold) => ({
    'model.trainFrom': isoDate(fold.trainFrom),
    'data.from': isoDate(fold.testFrom),
    'data.to': isoDate(fold.testTo),
  }));
}

export interface BacktestSweepOptions {
  sweep: string;
  /** The base config, sent inline in every job. */
  config: BacktestConfig;
  grid?: SweepGrid;
  /** Walk-forward folds; none: one window for every grid point. */
  folds?: readonly FoldOverrides[];
  /** Overrides every job gets (e.g. `data.from` / `data.to`), under the grid and the folds. */
  overrides?: { readonly [path: string]: JsonValue };
  dataDir?: string;
}

/**
 * Grid points × folds as `backtest` jobs. Each job's config is built and checked here, so a bad grid
 * value stops the submitter (ConfigError naming the field) instead of failing on the workers.
 */
export function backtestSweepJobs(options: BacktestSweepOptions): SweepJob[] {
  const grid = options.grid ?? {};
  const folds = options.folds && options.folds.length > 0 ? options.folds : [undefined];
  if (options.folds && options.folds.length > 0)
    for (const path of ['model.trainFrom', 'data.from', 'data.to'])
      if (path in grid)
        throw new ConfigError(
          `--grid ${path}`,
          'is set per fold by --walk-forward',
          'Leave it out of the grid, or drop --walk-forward',
        );
  const base: SweepParams = {
    config: JSON.parse(JSON.stringify(options.config)) as JsonValue,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    ...options.overrides,
  };
  const jobs = folds.flatMap((fold) =>
    gridJobs(options.sweep, BACKTEST_JOB_KIND, grid, { ...base, ...(fold ?? {}) }),
  );
  for (const job of jobs) backtestJobConfig(job.params);
  return jobs;
}
