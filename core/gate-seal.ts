// The risk gate's seal on the order intents it lets through, and its check by the execution actor.
//
// Why a seal and not subject permissions alone: a NATS user allowed to create a JetStream consumer
// can point a push consumer's deliver subject at `ord.intent.<symbol>` (the server does not check
// the deliver subject against the creator's publish rights), and the ORDERS stream stores what is
// delivered there. So whoever can read a stream could inject an intent, and a pass decision too.
// The proof that an intent passed the gate is an HMAC-SHA256, with a key only the risk and
// execution roles hold, over every other field of the intent: its id, symbol, side, quantity,
// prices, strategy, times, the pass decision's id and the gate's leadership term. Changing any of
// them (a real intent with its quantity raised) breaks the seal.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import type { OrderIntent, OrderIntentV1 } from '../schemas/messages.ts';
import { ConfigError } from './errors.ts';

export const GATE_KEY_VARIABLE = 'SLUICE_GATE_KEY';
const MIN_KEY_BYTES = 32;
const HEX = /^[0-9a-fA-F]*$/;
/** An HMAC-SHA256 in lowercase hex. */
const SEAL_PATTERN = /^[0-9a-f]{64}$/;
/** Names what is sealed and that the gate passed it: a seal of anything else never matches. */
const SEAL_DOMAIN = 'sluice order_intent v1 passed by the risk gate';

type SealedField = Exclude<keyof OrderIntent, 'seal'>;
type SealedFieldV1 = Exclude<keyof OrderIntentV1, 'seal'>;
type AnyIntent = OrderIntent | OrderIntentV1;

/**
 * Every field of a v1 intent but the seal, in the order they are sealed. A Record, so that a field
 * added to the contract fails to compile here until it is sealed too.
 */
const SEALED_FIELDS_V1: Record<SealedFieldV1, true> = {
  schema: true,
  id: true,
  ts_event: true,
  ts_init: true,
  strategy: true,
  symbol: true,
  side: true,
  quantity: true,
  order_type: true,
  limit_price: true,
  time_in_force: true,
  reduce_only: true,
  signal_id: true,
  decision_id: true,
  gate_term: true,
};
/** v2 seals v1's fields in v1's order, then its own: a v1 intent sealed before v2 still verifies. */
const SEALED_FIELDS_V2: Record<Exclude<SealedField, SealedFieldV1>, true> = {
  stop_price: true,
  bracket: true,
  exit_after: true,
  exit_reason: true,
};
const SEALED_FIELD_NAMES_V1 = Object.keys(SEALED_FIELDS_V1) as SealedFieldV1[];
const SEALED_FIELD_NAMES_V2 = [...SEALED_FIELD_NAMES_V1, ...Object.keys(SEALED_FIELDS_V2)] as SealedField[];

/** The secret the gate seals with. Never printed: logs and JSON show `[redacted]`. */
export class GateKey {
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /**
   * The key from its hex form (SLUICE_GATE_KEY), at least 32 bytes. A missing or bad value is a
   * ConfigError that says how to make one; it never shows the value.
   */
  static fromHex(hex: string | undefined, field = GATE_KEY_VARIABLE): GateKey {
    const fix = `Make one with \`openssl rand -hex 32\` and give the same value to every risk and execution process`;
    if (hex === undefined || hex === '') {
      throw new ConfigError(
        field,
        'is not set; the risk gate seals the order intents it passes with this key and the execution actor refuses any intent without its seal',
        fix,
      );
    }
    const trimmed = hex.trim();
    if (!HEX.test(trimmed) || trimmed.length % 2 !== 0 || trimmed.length < MIN_KEY_BYTES * 2) {
      throw new ConfigError(
        field,
        `must be at least ${MIN_KEY_BYTES * 2} hex characters (${MIN_KEY_BYTES} bytes); got ${trimmed.length} characters${HEX.test(trimmed) ? '' : ' with non-hex ones'}`,
        fix,
      );
    }
    return new GateKey(Buffer.from(trimmed, 'hex'));
  }

  /**
   * A deterministic key for a run whose gate and execution share one process (in-process and
   * via-NATS backtests, the demo): ledgers stay byte-identical run to run. Not a secret (the run id
   * is known), which is enough there: backtests publish on `bt.<run>.` subjects, never live ones.
   */
  static forRun(runId: string): GateKey {
    return new GateKey(createHash('sha256').update(`sluice gate key for run ${runId}`).digest());
  }

  /** The seal of `intent` (its `seal` field, if any, is ignored): 64 lowercase hex characters. */
  seal(intent: AnyIntent): string {
    const hmac = createHmac('sha256', this.#bytes);
    hmac.update(sealedText(intent));
    return hmac.digest('hex');
  }

  /** Whether `seal` (hex) is this key's seal of `intent`, compared in constant time. */
  matches(intent: AnyIntent, seal: string): boolean {
    const expected = Buffer.from(this.seal(intent), 'hex');
    const given = Buffer.from(seal, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return 'GateKey([redacted])';
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * The canonical text that is sealed: the domain, then every sealed field in SEALED_FIELDS order as
 * a JSON array (absent optional fields as null). JSON numbers print the shortest round-trip form,
 * so the text is the same after the intent went through JSON on the bus.
 */
function sealedText(intent: AnyIntent): string {
  const values: unknown[] = [SEAL_DOMAIN];
  const fields = intent.schema === 'order_intent.v1' ? SEALED_FIELD_NAMES_V1 : SEALED_FIELD_NAMES_V2;
  const record = intent as Partial<Record<SealedField, unknown>>;
  for (const field of fields) values.push(record[field] ?? null);
  return JSON.stringify(values);
}

/** The intent as the gate publishes it: naming its pass decision (and term), with its seal. */
export function sealIntent(
  intent: OrderIntent,
  pass: { decisionId: string; gateTerm?: number | undefined },
  key: GateKey,
): OrderIntent {
  const unsealed: OrderIntent = {
    ...intent,
    decision_id: pass.decisionId,
    ...(pass.gateTerm !== undefined ? { gate_term: pass.gateTerm } : {}),
  };
  delete unsealed.seal;
  return { ...unsealed, seal: key.seal(unsealed) };
}

/** Why an intent is not the gate's sealed pass, or undefined when its seal matches. */
export function sealProblem(intent: AnyIntent, key: GateKey): string | undefined {
  if (intent.seal === undefined || intent.decision_id === undefined) {
    return `not sealed by the risk gate (${intent.seal === undefined ? 'no seal' : 'no decision_id'})`;
  }
  if (!SEAL_PATTERN.test(intent.seal)) {
    return 'seal is malformed (expected 64 lowercase hex characters)';
  }
  if (!key.matches(intent, intent.seal)) {
    return 'seal does not match (forged, altered after the gate passed it, or sealed with another key)';
  }
  return undefined;
}
