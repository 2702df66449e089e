// The `backtest` sweep job kind without NATS: config overrides by dotted path, --grid and --walk-forward
// parsing, fold generation at its edges, and building a sweep's jobs.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../core/errors.ts';
import { readBacktestConfig } from '../../simulations/backtest-config.ts';
import {
  applyConfigOverrides,
  BACKTEST_JOB_KIND,
  backtestJobConfig,
  backtestJobRunId,
  backtestSweepJobs,
  checkOverridePath,
  parseSweepGrid,
  parseWalkForward,
  walkForwardOverrides,
} from '../../simulations/backtest-job.ts';
import { walkForwardFolds } from '../../simulations/sweep-queue.ts';
import { repoRoot } from '../support/cli.ts';

const SAMPLE = 'simulations/configs/sample-daily.json';
const sample = readBacktestConfig(join(repoRoot, SAMPLE));
const DAY = 86_400_000;

/** Asserts a ConfigError whose field is `field` (and whose message names it). */
function throwsConfigError(run: () => unknown, field: string, message?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.field, field);
    assert.ok(error.message.startsWith(`${field}: `), error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('config overrides by dotted path', () => {
  it('accepts fields of the schema, of any union variant, and anything under the limits record', () => {
    for (const path of [
      'trading.sizing.notional',
      'trading.sizing.cap',
      'trading.sizing',
      'inference.neutralBand',
      'model.l2',
      'model.trainFrom',
      'data.from',
      'seed',
      'news',
      'trading.limits.maxOrderNotional',
      'trading.limits.instruments.AAPL.maxQuantity',
    ])
      assert.doesNotThrow(() => checkOverridePath(path), path);
  });

  it('refuses a path that is no field, naming it and the fields that exist', () => {
    throwsConfigError(
      () => checkOverridePath('trading.sizing.notionl'),
      'trading.sizing.notionl',
      /trading\.sizing has no "notionl".*notional/,
    );
    throwsConfigError(() => checkOverridePath('nope'), 'nope', /the config has no "nope"/);
    throwsConfigError(() => checkOverridePath('model.l2.x'), 'model.l2.x', /model\.l2 has no fields/);
    throwsConfigError(() => checkOverridePath('data.symbols.0'), 'data.symbols.0');
    throwsConfigError(() => checkOverridePath('trading..venue'), 'trading..venue');
    throwsConfigError(() => checkOverridePath('__proto__.polluted'), '__proto__.polluted');
    throwsConfigError(() => checkOverridePath('trading.limits.__proto__'), 'trading.limits.__proto__');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('sets values on a copy and leaves the base config alone', () => {
    const before = JSON.stringify(sample);
    const changed = applyConfigOverrides(sample, {
      'trading.sizing.notional': 25_000,
      'inference.neutralBand': 0.05,
      'model.l2': 1,
    }) as unknown as typeof sample;
    assert.equal(JSON.stringify(sample), before);
    assert.equal(changed.trading.sizing.kind, 'fixed-notional');
    assert.deepEqual(changed.trading.sizing, { kind: 'fixed-notional', notional: 25_000 });
    assert.equal(changed.inference.neutralBand, 0.05);
    assert.equal(changed.model.l2, 1);
    assert.equal(changed.trading.venue.fee.takerBps, sample.trading.venue.fee.takerBps);
  });

  it('a job config is the base config (inline or by path) with its overrides, checked', () => {
    const params = {
      config: JSON.parse(JSON.stringify(sample)),
      'trading.sizing.notional': 25_000,
      'data.from': '2014-01-01',
      'data.to': '2014-04-01',
      'model.trainFrom': '2013-01-01',
      news: false,
    };
    const config = backtestJobConfig(params);
    assert.deepEqual(config, {
      ...sample,
      news: false,
      data: { ...sample.data, from: '2014-01-01', to: '2014-04-01' },
      model: { ...sample.model, trainFrom: '2013-01-01' },
      trading: { ...sample.trading, sizing: { kind: 'fixed-notional', notional: 25_000 } },
    });
    // A path is read relative to the repository root, wherever the worker runs.
    assert.deepEqual(backtestJobConfig({ ...params, config: SAMPLE }), config);
    assert.equal(backtestJobRunId(config, params), backtestJobRunId(config, { ...params }));
    assert.match(backtestJobRunId(config, params), /^sample-daily-[0-9a-f]{12}$/);
  });

  it('a bad value fails naming the overridden field', () => {
    const config = JSON.parse(JSON.stringify(sample));
    throwsConfigError(
      () => backtestJobConfig({ config, 'trading.sizing.notional': -1 }),
      'trading.sizing.notional',
      /greater than 0, got -1/,
    );
    throwsConfigError(
      () => backtestJobConfig({ config, 'inference.neutralBand': 2 }),
      'inference.neutralBand',
      /less or equal to 1/,
    );
    throwsConfigError(() => backtestJobConfig({ config, 'data.from': '2014-1-1' }), 'data.from');
    throwsConfigError(() => backtestJobConfig({ config, seed: 1.5 }), 'seed', /integer/);
    // Values under the limits record are checked by the risk gate's own parser, which names them too.
    throwsConfigError(
      () => backtestJobConfig({ config, 'trading.limits.maxOrderNotional': 'lots' }),
      '/trading/limits.maxOrderNotional',
    );
    // Whole-config checks still apply after the overrides.
    throwsConfigError(
      () => backtestJobConfig({ config, 'data.from': '2014-01-01', 'data.to': '2013-01-01' }),
      '/data/to',
    );
    throwsConfigError(
      () => backtestJobConfig({ config, 'model.trainFrom': '2013-12-15', 'data.from': '2014-01-01' }),
      '/model/trainFrom',
    );
  });

  it('a field of another union variant does not apply, unless the variant is overridden first', () => {
    const config = JSON.parse(JSON.stringify(sample));
    throwsConfigError(
      () => backtestJobConfig({ config, 'trading.sizing.cap': 2 }),
      'trading.sizing.cap',
      /kind "fixed-notional"/,
    );
    const kelly = backtestJobConfig({
      config,
      'trading.sizing': { kind: 'kelly', fraction: 0.5, cap: 1 },
      'trading.sizing.cap': 2,
    });
    assert.deepEqual(kelly.trading.sizing, { kind: 'kelly', fraction: 0.5, cap: 2 });
  });

  it('a missing or unreadable base config is a ConfigError on config', () => {
    throwsConfigError(() => backtestJobConfig({ 'model.l2': 1 }), 'config', /missing/);
    throwsConfigError(() => backtestJobConfig({ config: 42 }), 'config');
    throwsConfigError(() => backtestJobConfig({ config: 'no/such/config.json' }), 'config', /cannot read/);
  });
});

describe('--grid and --walk-forward', () => {
  it('parses a grid of value lists and checks its paths', () => {
    assert.deepEqual(parseSweepGrid('{"trading.sizing.notional":[25000,50000],"news":[false]}'), {
      'trading.sizing.notional': [25_000, 50_000],
      news: [false],
    });
    throwsConfigError(() => parseSweepGrid('{"a":'), '--grid', /not JSON/);
    throwsConfigError(() => parseSweepGrid('[1,2]'), '--grid', /object/);
    throwsConfigError(() => parseSweepGrid('{"model.l2":[]}'), '--grid model.l2', /non-empty list/);
    throwsConfigError(() => parseSweepGrid('{"model.l2":3}'), '--grid model.l2', /non-empty list/);
    throwsConfigError(() => parseSweepGrid('{"model.l3":[1]}'), 'model.l3', /model has no "l3"/);
  });

  it('parses TRAIN:TEST in whole days', () => {
    assert.deepEqual(parseWalkForward('365d:90d'), { trainDays: 365, testDays: 90 });
    for (const bad of ['365:90', '365d', '0d:90d', '365d:0d', '1y:90d', '-5d:3d', ''])
      throwsConfigError(() => parseWalkForward(bad), '--walk-forward');
  });

  it('rolls folds forward by the test window; train ends where test starts', () => {
    assert.deepEqual(walkForwardOverrides('2013-01-01', '2014-07-01', { trainDays: 365, testDays: 90 }), [
      { 'model.trainFrom': '2013-01-01', 'data.from': '2014-01-01', 'data.to': '2014-04-01' },
      { 'model.trainFrom': '2013-04-01', 'data.from': '2014-04-01', 'data.to': '2014-06-30' },
    ]);
  });

  it('an exact fit is one fold; one day short is none, which is an error', () => {
    // 2013-01-01 + 365 + 90 days = 2014-04-01.
    assert.equal(
      walkForwardOverrides('2013-01-01', '2014-04-01', { trainDays: 365, testDays: 90 }).length,
      1,
    );
    throwsConfigError(
      () => walkForwardOverrides('2013-01-01', '2014-03-31', { trainDays: 365, testDays: 90 }),
      '--walk-forward',
      /no 365d train \+ 90d test fold fits/,
    );
  });

  it('drops a last test window that would run past the end', () => {
    const folds = walkForwardOverrides('2013-01-01', '2014-06-29', { trainDays: 365, testDays: 90 });
    assert.equal(folds.length, 1);
    assert.ok(folds.every((fold) => fold['data.to'] <= '2014-06-29'));
  });

  it('refuses bad or reversed dates', () => {
    throwsConfigError(
      () => walkForwardOverrides('2013-1-1', '2014-01-01', { trainDays: 30, testDays: 30 }),
      '--from',
    );
    throwsConfigError(
      () => walkForwardOverrides('2013-01-01', 'soon', { trainDays: 30, testDays: 30 }),
      '--to',
    );
    throwsConfigError(
      () => walkForwardOverrides('2014-01-01', '2014-01-01', { trainDays: 30, testDays: 30 }),
      '--to',
      /not after/,
    );
  });

  it('walkForwardFolds: none for an empty or too short span, exact fits included', () => {
    assert.deepEqual(walkForwardFolds(0, 0, 10 * DAY, DAY), []);
    assert.deepEqual(walkForwardFolds(0, 10 * DAY, 10 * DAY, DAY), []);
    assert.deepEqual(walkForwardFolds(0, 11 * DAY, 10 * DAY, DAY), [
      { trainFrom: 0, trainTo: 10 * DAY, testFrom: 10 * DAY, testTo: 11 * DAY },
    ]);
    const folds = walkForwardFolds(0, 20 * DAY, 10 * DAY, 3 * DAY);
    assert.equal(folds.length, 3);
    for (const fold of folds) {
      assert.equal(fold.trainTo, fold.testFrom);
      assert.ok(fold.testTo <= 20 * DAY);
    }
  });
});

describe('a sweep of backtest jobs', () => {
  const grid = { 'trading.sizing.notional': [25_000, 50_000], news: [false] };
  const folds = walkForwardOverrides('2013-01-01', '2014-07-01', { trainDays: 365, testDays: 90 });

  it('is grid points × folds, each job self-contained with the config inline', () => {
    const jobs = backtestSweepJobs({ sweep: 'wf', config: sample, grid, folds });
    assert.equal(jobs.length, 4);
    assert.equal(new Set(jobs.map((job) => job.id)).size, 4);
    for (const job of jobs) {
      assert.equal(job.kind, BACKTEST_JOB_KIND);
      assert.match(job.id, /^wf\.[0-9a-f]{16}$/);
      assert.deepEqual(job.params.config, JSON.parse(JSON.stringify(sample)));
      assert.equal(job.params.news, false);
    }
    assert.deepEqual(
      jobs.map((job) => [job.params['model.trainFrom'], job.params['trading.sizing.notional']]),
      [
        ['2013-01-01', 25_000],
        ['2013-01-01', 50_000],
        ['2013-04-01', 25_000],
        ['2013-04-01', 50_000],
      ],
    );
    // The same sweep built again has the same job ids, so submitting it twice adds nothing.
    assert.deepEqual(
      backtestSweepJobs({ sweep: 'wf', config: sample, grid, folds }).map((job) => job.id),
      jobs.map((job) => job.id),
    );
  });

  it('without folds: one job per grid point, window overrides for all', () => {
    const jobs = backtestSweepJobs({
      sweep: 'plain',
      config: sample,
      grid,
      overrides: { 'data.from': '2015-01-01', 'data.to': '2015-04-01' },
      dataDir: '/data/shared',
    });
    assert.equal(jobs.length, 2);
    for (const job of jobs) {
      assert.equal(job.params['data.from'], '2015-01-01');
      assert.equal(job.params.dataDir, '/data/shared');
      assert.equal(backtestJobConfig(job.params).data.to, '2015-04-01');
    }
  });

  it('is checked before anything is sent: a bad grid value or a fold key in the grid stops it', () => {
    throwsConfigError(
      () => backtestSweepJobs({ sweep: 'bad', config: sample, grid: { 'trading.sizing.notional': [1, 0] } }),
      'trading.sizing.notional',
    );
    throwsConfigError(
      () => backtestSweepJobs({ sweep: 'bad', config: sample, grid: { 'data.from': ['2014-01-01'] }, folds }),
      '--grid data.from',
      /per fold/,
    );
    assert.throws(() => backtestSweepJobs({ sweep: 'bad id', config: sample }), /sweep id/);
  });
});
