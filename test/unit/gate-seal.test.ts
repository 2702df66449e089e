// The risk gate's seal on order intents (core/gate-seal.ts): what it covers, what breaks it, how the
// key is read, and that the key never shows in logs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { ConfigError } from '../../core/errors.ts';
import { GATE_KEY_VARIABLE, GateKey, sealIntent, sealProblem } from '../../core/gate-seal.ts';
import type { OrderIntent, OrderIntentV1 } from '../../schemas/messages.ts';
import { upgradeOrderIntent } from '../../schemas/order-intent.ts';
import { validateMessage } from '../../schemas/validate.ts';
import { repoRoot } from '../support/cli.ts';

const KEY_HEX = 'a1'.repeat(32);
const key = GateKey.fromHex(KEY_HEX);

const unsealed: OrderIntent = {
  schema: 'order_intent.v2',
  id: 'sig-1:intent',
  ts_event: 1_700_000_000_000,
  ts_init: 1_700_000_000_001,
  strategy: 'momentum',
  symbol: 'AAPL',
  side: 'buy',
  quantity: 33.333333333333336,
  order_type: 'limit',
  limit_price: 150.25,
  time_in_force: 'gtc',
  reduce_only: false,
  signal_id: 'sig-1',
};
const sealed = sealIntent(unsealed, { decisionId: 'sig-1:decision', gateTerm: 7 }, key);

describe('gate seal', () => {
  it('a sealed intent names its pass decision and term, is a valid order_intent and checks out after JSON', () => {
    assert.equal(sealed.decision_id, 'sig-1:decision');
    assert.equal(sealed.gate_term, 7);
    assert.match(sealed.seal ?? '', /^[0-9a-f]{64}$/);
    assert.equal(validateMessage('order_intent', sealed).ok, true);
    assert.equal(sealProblem(sealed, key), undefined);
    assert.equal(sealProblem(JSON.parse(JSON.stringify(sealed)) as OrderIntent, key), undefined);
    // Without an election there is no term, and the seal still holds.
    const termless = sealIntent(unsealed, { decisionId: 'sig-1:decision' }, key);
    assert.equal('gate_term' in termless, false);
    assert.equal(sealProblem(termless, key), undefined);
  });

  const alterations: Record<string, Partial<OrderIntent>> = {
    quantity: { quantity: 3_333 },
    limit_price: { limit_price: 1.5 },
    side: { side: 'sell' },
    symbol: { symbol: 'MSFT' },
    id: { id: 'sig-2:intent' },
    order_type: { order_type: 'market' },
    time_in_force: { time_in_force: 'day' },
    reduce_only: { reduce_only: true },
    strategy: { strategy: 'other' },
    signal_id: { signal_id: 'sig-2' },
    ts_event: { ts_event: 1_700_000_000_002 },
    ts_init: { ts_init: 1_700_000_000_002 },
    decision_id: { decision_id: 'sig-2:decision' },
    gate_term: { gate_term: 8 },
    stop_price: { stop_price: 149 },
    bracket: { bracket: { take_profit: { limit_price: 160 }, stop_loss: { stop_price: 140 } } },
    exit_after: { exit_after: 1_700_000_060_000 },
    exit_reason: { exit_reason: 'time' },
  };
  for (const [field, change] of Object.entries(alterations)) {
    it(`an intent whose ${field} was changed after sealing does not match`, () => {
      assert.equal(
        sealProblem({ ...sealed, ...change }, key),
        'seal does not match (forged, altered after the gate passed it, or sealed with another key)',
      );
    });
  }

  it('a missing limit price, term or decision id cannot be passed off as another value', () => {
    const { limit_price: _price, ...withoutPrice } = sealed;
    assert.match(sealProblem(withoutPrice, key) ?? '', /does not match/);
    const { gate_term: _term, ...withoutTerm } = sealed;
    assert.match(sealProblem(withoutTerm, key) ?? '', /does not match/);
    const { decision_id: _decision, ...withoutDecision } = sealed;
    assert.equal(sealProblem(withoutDecision, key), 'not sealed by the risk gate (no decision_id)');
  });

  it('refuses an intent without a seal, with a malformed one, or sealed with another key', () => {
    assert.equal(sealProblem(unsealed, key), 'not sealed by the risk gate (no seal)');
    for (const seal of ['', 'abc', (sealed.seal ?? '').toUpperCase(), `${sealed.seal}00`, 'z'.repeat(64)]) {
      assert.equal(
        sealProblem({ ...sealed, seal }, key),
        'seal is malformed (expected 64 lowercase hex characters)',
        seal,
      );
    }
    const otherKey = GateKey.fromHex('b2'.repeat(32));
    assert.match(sealProblem(sealed, otherKey) ?? '', /^seal does not match/);
    const forgedWithOtherKey = sealIntent(unsealed, { decisionId: 'sig-1:decision' }, otherKey);
    assert.match(sealProblem(forgedWithOtherKey, key) ?? '', /^seal does not match/);
  });

  it('an order_intent.v1 sealed before v2 still checks out, and only as v1 (the guard checks it before upgrading)', () => {
    const { schema: _schema, seal: _seal, ...fields } = sealed;
    const v1: OrderIntentV1 = {
      ...fields,
      schema: 'order_intent.v1',
      order_type: 'limit',
      time_in_force: 'gtc',
    };
    const sealedV1: OrderIntentV1 = { ...v1, seal: key.seal(v1) };
    assert.equal(validateMessage('order_intent_v1', sealedV1).ok, true);
    assert.equal(sealProblem(sealedV1, key), undefined);
    const upgraded = upgradeOrderIntent(sealedV1);
    assert.equal(upgraded.schema, 'order_intent.v2');
    assert.equal(upgraded.limit_price, sealedV1.limit_price);
    assert.match(sealProblem(upgraded, key) ?? '', /does not match/);
  });

  it('resealing replaces an old seal rather than covering it', () => {
    const resealed = sealIntent({ ...sealed, quantity: 1 }, { decisionId: 'sig-1:decision' }, key);
    assert.equal(sealProblem(resealed, key), undefined);
    assert.notEqual(resealed.seal, sealed.seal);
  });
});

describe('gate key', () => {
  it(`${GATE_KEY_VARIABLE} missing or too short is a one-line ConfigError saying how to make one, never showing the value`, () => {
    for (const raw of [undefined, '']) {
      assert.throws(
        () => GateKey.fromHex(raw),
        (error: unknown) =>
          error instanceof ConfigError &&
          /^SLUICE_GATE_KEY: is not set/.test(error.message) &&
          error.message.includes('openssl rand -hex 32') &&
          !error.message.includes('\n'),
      );
    }
    const short = 'c3'.repeat(31);
    const nonHex = `${'c3'.repeat(31)}zz`;
    for (const raw of [short, nonHex, `${KEY_HEX}a`]) {
      assert.throws(
        () => GateKey.fromHex(raw),
        (error: unknown) =>
          error instanceof ConfigError &&
          /SLUICE_GATE_KEY: must be at least 64 hex characters \(32 bytes\)/.test(error.message) &&
          error.message.includes('openssl rand -hex 32') &&
          !error.message.includes(raw),
      );
    }
  });

  it('accepts upper-case hex and surrounding white space as the same key', () => {
    const same = GateKey.fromHex(` ${KEY_HEX.toUpperCase()}\n`);
    assert.equal(same.seal(sealed), key.seal(sealed));
  });

  it('a run key is the same for the same run and differs between runs', () => {
    assert.equal(GateKey.forRun('run-1').seal(sealed), GateKey.forRun('run-1').seal(sealed));
    assert.notEqual(GateKey.forRun('run-1').seal(sealed), GateKey.forRun('run-2').seal(sealed));
  });

  it('prints as [redacted] in JSON, inspect and strings', () => {
    const shown = [JSON.stringify({ gateKey: key }), inspect({ key }), String(key), `${key}`];
    for (const text of shown) {
      assert.ok(!text.toLowerCase().includes('a1a1'), text);
      assert.match(text, /redacted/);
    }
  });

  it('a log line of the key or the environment holding it contains no key', () => {
    const script = `
import { GateKey } from './core/gate-seal.ts';
import { createLogger } from './core/logger.ts';
const logger = createLogger({ run: 'r1', actor: 'risk' });
const gateKey = GateKey.fromHex(process.env.SLUICE_GATE_KEY);
logger.info({ gateKey }, 'key object');
logger.info({ options: { gateKey: process.env.SLUICE_GATE_KEY } }, 'key text');
logger.info({ SLUICE_GATE_KEY: process.env.SLUICE_GATE_KEY }, 'environment');
`;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      env: { ...process.env, SLUICE_GATE_KEY: KEY_HEX, SLUICE_LOG_LEVEL: 'info' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 3, result.stderr);
    assert.ok(!result.stderr.includes('a1a1'), result.stderr);
  });
});
