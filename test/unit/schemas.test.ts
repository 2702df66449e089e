import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import asyncApiSpecs from '@asyncapi/specs';
import { Ajv } from 'ajv';
import { generatedFiles, schemasDirectory } from '../../schemas/generate.ts';
import {
  EARLIEST_MARKET_TIME_MS,
  LATEST_TIME_MS,
  type MessageName,
  messageSchemas,
} from '../../schemas/messages.ts';
import { modelManifestTag } from '../../schemas/model-manifest.ts';
import { partitionOf, Subjects, symbolToken } from '../../schemas/subjects.ts';
import {
  decodeMessage,
  decodeModelManifest,
  validateMessage,
  validateModelManifest,
} from '../../schemas/validate.ts';

const samples: { [N in MessageName]?: unknown } = {
  trade_tick: {
    schema: 'trade_tick.v1',
    id: 'binance:trade:BTCUSDT:553287559',
    ts_event: 1610064000278,
    ts_init: 1610064000278,
    symbol: 'BTCUSDT',
    price: 39432.48,
    size: 0.000263,
    aggressor: 'sell',
  },
  bar: {
    schema: 'bar.v1',
    id: 'stocknet:bar:1d:AAPL:1346803200000',
    ts_event: 1346803200000,
    ts_init: 1346803200000,
    symbol: 'AAPL',
    interval: '1d',
    open: 95.108574,
    high: 96.44857,
    low: 94.928574,
    close: 96.424286,
    volume: 91973000,
  },
  risk_decision: {
    schema: 'risk_decision.v1',
    id: 'risk:sig:1',
    ts_event: 1,
    ts_init: 1,
    strategy: 'momentum',
    symbol: 'AAPL',
    outcome: 'deny',
    code: 'MAX_NOTIONAL',
    reason: 'order notional 2000 above 1000',
    trading_state: 'active',
    checks: [{ check: 'maxOrderNotional', passed: false, value: 2000, limit: 1000 }],
    signal_id: 'sig:1',
  },
  alert: {
    schema: 'alert.v1',
    id: 'alert:1',
    ts_event: 1,
    ts_init: 1,
    severity: 'critical',
    code: 'DAILY_LOSS',
    message: 'halted',
    source: 'risk',
    dedupe_key: 'risk:DAILY_LOSS',
  },
};

describe('message contracts', () => {
  it('JSON Schema files and the AsyncAPI document in the repo are what the contracts generate', () => {
    for (const [relative, content] of generatedFiles()) {
      const onDisk = readFileSync(join(schemasDirectory(), relative), 'utf8');
      assert.equal(onDisk, content, `schemas/${relative} is stale: run npm run schemas`);
    }
  });

  it('every JSON Schema compiles with ajv and agrees with the runtime validators', () => {
    const ajv = new Ajv({ strict: false });
    for (const [relative, content] of generatedFiles()) {
      if (!relative.startsWith('json/')) continue;
      const validate = ajv.compile(JSON.parse(content) as object);
      const name = relative.slice('json/'.length).replace(/\.v\d+\.json$/, '') as MessageName;
      const sample = samples[name];
      if (sample === undefined) continue;
      assert.equal(validate(sample), true, `${relative}: ${ajv.errorsText(validate.errors)}`);
      assert.equal(validateMessage(name, sample).ok, true);
      const broken = { ...(sample as object), ts_event: -1 };
      assert.equal(validate(broken), false);
      assert.equal(validateMessage(name, broken).ok, false);
    }
  });

  it('the AsyncAPI document is a valid AsyncAPI 3.0.0 document covering every contract', () => {
    const document = JSON.parse(generatedFiles().get('asyncapi.json') ?? '{}') as {
      asyncapi: string;
      components: { messages: Record<string, unknown> };
      channels: Record<string, { address: string | null }>;
    };
    // The AsyncAPI schema bundles its own copy of the draft-07 meta-schema, so ajv's must stay out.
    const ajv = new Ajv({ strict: false, validateFormats: false, meta: false, validateSchema: false });
    const validate = ajv.compile(asyncApiSpecs.schemas['3.0.0'] as object);
    assert.equal(validate(document), true, ajv.errorsText(validate.errors));
    assert.deepEqual(Object.keys(document.components.messages).sort(), Object.keys(messageSchemas).sort());
    assert.equal(document.channels.tick?.address, 'md.tick.{partition}.{symbol}');
  });

  it('refuses a key outside the contract or a record value of the wrong type, as ajv does', () => {
    const ajv = new Ajv({ strict: false });
    const decision = samples.risk_decision as { checks: object[] };
    const featureVector = {
      schema: 'feature_vector.v1',
      id: 'feat:AAPL:1',
      ts_event: 1,
      ts_init: 1,
      symbol: 'AAPL',
      feature_set: 'default',
      feature_set_version: 'abc',
      values: { rsi_14: 51.2, sma_20: 101.5 },
      bar_id: 'bar:AAPL:1',
    };
    const cases: [MessageName, unknown, RegExp][] = [
      ['trade_tick', { ...(samples.trade_tick as object), venu: 'binance' }, /\/venu/],
      ['risk_decision', { ...decision, checks: [{ ...decision.checks[0], note: 'x' }] }, /\/checks\/0\/note/],
      ['feature_vector', { ...featureVector, values: { rsi_14: 51.2, sma_20: 'high' } }, /\/values\/sma_20/],
      ['feature_vector', featureVector, /^$/],
      // Optional keys set to undefined are keys of the contract, so they pass.
      ['trade_tick', { ...(samples.trade_tick as object), venue: undefined }, /^$/],
    ];
    for (const [name, value, reason] of cases) {
      const result = validateMessage(name, value);
      const jsonSchema = JSON.parse(generatedFiles().get(`json/${name}.v1.json`) ?? '{}') as { $id: string };
      const validate = ajv.getSchema(jsonSchema.$id) ?? ajv.compile(jsonSchema);
      assert.equal(result.ok, validate(JSON.parse(JSON.stringify(value))), name);
      assert.match(result.ok ? '' : result.reason, reason);
    }
  });

  it('rejects malformed JSON, wrong types and inconsistent bars with a reason naming the field', () => {
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const malformed = decodeMessage('bar', new TextEncoder().encode('{"open": 1,'));
    assert.equal(malformed.ok, false);
    assert.match(malformed.ok ? '' : malformed.reason, /malformed JSON/);
    const nan = decodeMessage('bar', bytes({ ...(samples.bar as object), close: 'NaN' }));
    assert.match(nan.ok ? '' : nan.reason, /\/close/);
    const inverted = validateMessage('bar', { ...(samples.bar as object), low: 200, high: 100 });
    assert.match(inverted.ok ? '' : inverted.reason, /low 200 is above \/high 100/);
    const negative = validateMessage('trade_tick', { ...(samples.trade_tick as object), size: -1 });
    assert.match(negative.ok ? '' : negative.reason, /\/size/);
  });
});

describe('time bounds and bar intervals in the contracts', () => {
  const ajv = new Ajv({ strict: false });
  const jsonSchemaCheck = (name: MessageName) => {
    const schema = JSON.parse(generatedFiles().get(`json/${name}.v1.json`) ?? '{}') as { $id: string };
    return ajv.getSchema(schema.$id) ?? ajv.compile(schema);
  };
  /** The runtime validator and the JSON Schema file agree on `value`; returns the runtime reason. */
  const refusal = (name: MessageName, value: unknown): string | undefined => {
    const result = validateMessage(name, value);
    assert.equal(jsonSchemaCheck(name)(value), result.ok, `${name}: ajv and the runtime disagree`);
    return result.ok ? undefined : result.reason;
  };

  it('refuses the bar stamped 1e16 that the database refused in every batch, by ts_event and by ts_init', () => {
    assert.match(
      refusal('bar', { ...(samples.bar as object), ts_event: 1e16 }) ?? '',
      /^bar: \/ts_event: .*less or equal to 253402300799999/,
    );
    assert.match(refusal('bar', { ...(samples.bar as object), ts_init: 1e16 }) ?? '', /^bar: \/ts_init/);
  });

  it('bounds market times to 1990-01-01 .. 9999-12-31 and every other time to 0 .. 9999-12-31', () => {
    const market: MessageName[] = ['trade_tick', 'bar'];
    for (const name of market) {
      const sample = samples[name] as object;
      assert.equal(
        refusal(name, { ...sample, ts_event: EARLIEST_MARKET_TIME_MS, ts_init: LATEST_TIME_MS }),
        undefined,
      );
      assert.match(refusal(name, { ...sample, ts_event: EARLIEST_MARKET_TIME_MS - 1 }) ?? '', /\/ts_event/);
      assert.match(refusal(name, { ...sample, ts_init: LATEST_TIME_MS + 1 }) ?? '', /\/ts_init/);
      assert.match(refusal(name, { ...sample, ts_event: 1_000 }) ?? '', /\/ts_event/);
    }
    assert.equal(new Date(LATEST_TIME_MS).toISOString(), '9999-12-31T23:59:59.999Z');
    assert.equal(new Date(EARLIEST_MARKET_TIME_MS).toISOString(), '1990-01-01T00:00:00.000Z');
    // Alerts, decisions and the like carry the time of their cause or of a clock: from 0.
    assert.equal(refusal('alert', samples.alert), undefined);
    assert.match(
      refusal('alert', { ...(samples.alert as object), ts_event: LATEST_TIME_MS + 1 }) ?? '',
      /\/ts_event/,
    );
  });

  it('refuses bar intervals that are not a positive length in canonical form', () => {
    const bar = samples.bar as object;
    for (const interval of ['1ms', '500ms', '15s', '1m', '60m', '4h', '1d', '99999999d']) {
      assert.equal(refusal('bar', { ...bar, interval }), undefined, interval);
    }
    for (const interval of [
      '0m',
      '0ms',
      '00m',
      '01m',
      '-1m',
      '1.5m',
      '1 m',
      'm',
      '1',
      '1w',
      '1M',
      '',
      '999999999d',
    ]) {
      assert.match(refusal('bar', { ...bar, interval }) ?? '', /^bar: \/interval/, JSON.stringify(interval));
    }
  });
});

describe('subjects', () => {
  it('puts the partition before the symbol and encodes symbols that a token cannot hold', () => {
    const subjects = new Subjects(4);
    assert.equal(subjects.tick('AAPL'), `md.tick.${partitionOf('AAPL', 4)}.AAPL`);
    assert.equal(symbolToken('BRK.B'), 'BRK~2eB');
    assert.equal(symbolToken('GBP/USD'), 'GBP~2fUSD');
    assert.equal(new Subjects(4, 'bt.run1.').orderIntent('AAPL'), 'bt.run1.ord.intent.AAPL');
  });

  it('spreads symbols over partitions deterministically', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 1000; i++) counts[partitionOf(`SYM${i}`, 4)]! += 1;
    for (const count of counts) assert.ok(count > 150, `partition counts ${counts}`);
    assert.equal(partitionOf('AAPL', 4), partitionOf('AAPL', 4));
  });
});

describe('model manifest contract', () => {
  const manifest = {
    manifestVersion: 1,
    modelId: 'logistic-fs-0123-abcd',
    kind: 'logistic',
    createdAt: '2015-06-30',
    featureSet: { version: 'fs-0123456789abcdef', names: ['rsi_14', 'sma_20'] },
    input: { name: 'features', dtype: 'float32', width: 2 },
    output: { name: 'probabilities', classes: ['+1'] },
    normalisation: { kind: 'standard', mean: [50, 100], std: [10, 5] },
    labels: {
      kind: 'triple-barrier',
      target: 'P(label = +1)',
      profitTake: 1,
      stopLoss: 1,
      verticalBars: 5,
      volatilityWindow: 20,
    },
    trainingData: { from: '2014-01-02', to: '2015-06-30', samples: 900, sources: ['sample AAPL'] },
    metrics: {
      folds: [
        {
          fold: 0,
          trainSamples: 450,
          testSamples: 225,
          purged: 5,
          // rocAuc of a fold with one class is NaN, which JSON writes as null.
          metrics: { samples: 225, logLoss: 0.69, rocAuc: null, accuracy: 0.5, brier: 0.25 },
        },
      ],
      outOfSample: { samples: 200, logLoss: 0.68, rocAuc: 0.55, accuracy: 0.53, brier: 0.24 },
    },
    referenceDistributions: [
      {
        name: 'rsi_14',
        count: 900,
        mean: 50,
        std: 10,
        min: 10,
        max: 90,
        deciles: [37, 41, 45, 48, 50, 52, 55, 59, 63],
        edges: [10, 50, 90],
        proportions: [0.5, 0.5],
      },
    ],
    onnx: {
      file: 'logistic-fs-0123-abcd.onnx',
      sha256: 'ab'.repeat(32),
      bytes: 412,
      opset: 13,
      irVersion: 8,
    },
  };
  const ajv = new Ajv({ strict: false });
  const jsonSchema = JSON.parse(generatedFiles().get(`json/${modelManifestTag}.json`) ?? '{}') as object;
  const fileCheck = ajv.compile(jsonSchema);
  /** The runtime validator's reason (undefined when valid), after checking that the JSON Schema file agrees. */
  const refusal = (value: unknown): string | undefined => {
    const result = validateModelManifest(value);
    assert.equal(fileCheck(value), result.ok, 'ajv and the runtime disagree');
    return result.ok ? undefined : result.reason;
  };

  it('accepts a manifest as sluice train writes it, and its JSON Schema file agrees', () => {
    assert.equal(refusal(manifest), undefined);
    assert.equal(refusal({ ...manifest, metrics: { ...manifest.metrics, folds: [] } }), undefined);
  });

  it('refuses a manifest of another version, naming the version it reads', () => {
    assert.match(
      refusal({ ...manifest, manifestVersion: 2 }) ?? '',
      /^model_manifest\.v1: \/manifestVersion: is 2; this Sluice reads manifest version 1 only$/,
    );
    const { manifestVersion: _, ...unversioned } = manifest;
    assert.match(refusal(unversioned) ?? '', /\/manifestVersion: is undefined/);
  });

  it('refuses malformed and hostile manifests with a reason naming the field, never casting them', () => {
    const cases: [unknown, RegExp][] = [
      [null, /^model_manifest\.v1: \(root\)/],
      [[manifest], /^model_manifest\.v1: /],
      [{ ...manifest, modelId: '' }, /\/modelId/],
      [{ ...manifest, kind: 'random-forest' }, /\/kind/],
      [{ ...manifest, featureSet: { version: 'fs-1', names: 'rsi_14' } }, /\/featureSet\/names/],
      [{ ...manifest, input: { ...manifest.input, width: '2' } }, /\/input\/width/],
      [{ ...manifest, input: { ...manifest.input, dtype: 'float64' } }, /\/input\/dtype/],
      [{ ...manifest, onnx: { ...manifest.onnx, sha256: 'not-a-hash' } }, /\/onnx\/sha256/],
      [{ ...manifest, onnx: { ...manifest.onnx, bytes: -1 } }, /\/onnx\/bytes/],
      [{ ...manifest, normalisation: { kind: 'standard', mean: [1, 'x'], std: [1, 1] } }, /\/normalisation/],
      [{ ...manifest, referenceDistributions: [{ name: 'rsi_14' }] }, /\/referenceDistributions\/0/],
      [{ ...manifest, onnx: { ...manifest.onnx, path: '../../etc/passwd' } }, /\/onnx/],
      [{ ...manifest, __proto__extra: true }, /^model_manifest\.v1: /],
    ];
    for (const [value, reason] of cases) {
      const why = refusal(value);
      assert.ok(why !== undefined, `accepted ${JSON.stringify(value).slice(0, 80)}`);
      assert.match(why, reason);
    }
    const { onnx: _, ...withoutFile } = manifest;
    assert.match(refusal(withoutFile) ?? '', /\/onnx/);
  });

  it('decodes JSON text and bytes; malformed JSON is a failure with the parser reason, not a throw', () => {
    const text = JSON.stringify(manifest);
    assert.equal(decodeModelManifest(text).ok, true);
    assert.equal(decodeModelManifest(new TextEncoder().encode(text)).ok, true);
    const broken = decodeModelManifest(text.slice(0, -1));
    assert.match(broken.ok ? '' : broken.reason, /^model_manifest\.v1: malformed JSON/);
  });
});

describe('order_intent.v2', () => {
  const base = {
    schema: 'order_intent.v2',
    id: 'sig:s:b:intent',
    ts_event: 1_700_000_000_000,
    ts_init: 1_700_000_000_000,
    strategy: 's',
    symbol: 'AAPL',
    side: 'buy',
    quantity: 10,
    order_type: 'market',
    time_in_force: 'gtc',
    reduce_only: false,
    signal_id: 'sig:s:b',
  };
  const bracket = { take_profit: { limit_price: 110 }, stop_loss: { stop_price: 95 } };

  it('takes every order type with the prices it needs, fok, and a bracket with a time exit', () => {
    for (const order of [
      {},
      { order_type: 'limit', limit_price: 100 },
      { order_type: 'stop', stop_price: 99 },
      { order_type: 'stop_limit', stop_price: 99, limit_price: 98.5 },
      { time_in_force: 'fok' },
      { bracket, exit_after: 1_700_000_600_000 },
      { side: 'sell', reduce_only: true, exit_reason: 'take_profit' },
    ]) {
      const result = validateMessage('order_intent', { ...base, ...order });
      assert.equal(result.ok, true, JSON.stringify(order) + (result.ok ? '' : result.reason));
    }
  });

  it('refuses a price its type does not have or lacks, a bracket the wrong way round or on an exit', () => {
    const refused: [object, RegExp][] = [
      [{ order_type: 'limit' }, /limit_price is required for a limit order/],
      [{ limit_price: 100 }, /limit_price is not allowed for a market order/],
      [{ order_type: 'stop' }, /stop_price is required for a stop order/],
      [{ order_type: 'stop_limit', stop_price: 99 }, /limit_price is required/],
      [{ order_type: 'limit', limit_price: 100, stop_price: 99 }, /stop_price is not allowed/],
      [
        { bracket: { ...bracket, take_profit: { limit_price: 90 } } },
        /take-profit 90 must be above the stop-loss 95/,
      ],
      [{ side: 'sell', bracket }, /must be below the stop-loss/],
      [{ bracket, reduce_only: true }, /only for an entry/],
      [{ exit_after: 1_700_000_600_000 }, /exit_after needs a \/bracket/],
      [{ bracket, exit_reason: 'signal' }, /exit_reason marks an exit/],
      [{ time_in_force: 'gtd' }, /time_in_force/],
    ];
    for (const [order, reason] of refused) {
      const result = validateMessage('order_intent', { ...base, ...order });
      assert.equal(result.ok, false, JSON.stringify(order));
      if (!result.ok) assert.match(result.reason, reason);
    }
  });

  it('still reads order_intent.v1, which has neither stop orders nor fok', () => {
    const v1 = { ...base, schema: 'order_intent.v1' };
    assert.equal(validateMessage('order_intent_v1', v1).ok, true);
    assert.equal(validateMessage('order_intent_v1', { ...v1, time_in_force: 'fok' }).ok, false);
    assert.equal(validateMessage('order_intent_v1', { ...v1, order_type: 'stop', stop_price: 1 }).ok, false);
  });
});
