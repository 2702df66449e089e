// Compiled validators for every message contract. TypeBox compiles each schema once into a
// specialised function, which keeps validation cheap enough for the per-message publish and consume
// paths. Two rules about keys are compiled here instead, because TypeBox's code for them allocates
// per key and cost more than the rest of a message's check in a replay:
// - a closed object (`additionalProperties: false`), which TypeBox checks with
//   `Object.getOwnPropertyNames(value).every(key => [...].includes(key))`: a generated `switch`;
// - a record with any string key (feature values), which TypeBox checks with `Object.entries` and a
//   `^(.*)$` test per key: a `for...in` over the values.
// The contracts are compiled without these rules and the rules are checked after; a message either
// check refuses is described by TypeBox's own compiled contract, so the reason is unchanged.
import { CloneType, KindGuard, PatternStringExact, type TSchema, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type MessageName, type MessageOf, messageSchemas } from './messages.ts';
import {
  MODEL_MANIFEST_VERSION,
  type ModelManifest,
  ModelManifest as ModelManifestSchema,
  modelManifestTag,
} from './model-manifest.ts';
import { orderIntentProblem } from './order-intent.ts';

type KeyCheck = (value: unknown) => boolean;

interface Contract {
  /** Everything but the key rules. */
  readonly open: TypeCheck<TSchema>;
  /** The key rules, on the message and on every nested object, array item and record. */
  readonly keys: KeyCheck;
  /** Rules across fields (see `invariants`). */
  readonly invariant: ((message: unknown) => string | undefined) | undefined;
  /** The whole contract as TypeBox states it, compiled on first use: it names the failing field. */
  full: TypeCheck<TSchema> | undefined;
}

const isAnyKeyRecord = (schema: TSchema) =>
  KindGuard.IsRecord(schema) && Object.keys(schema.patternProperties).join() === PatternStringExact;

/** A copy of `schema` without the key rules: objects left open, any-key records as plain objects. */
function withoutKeyRules(schema: TSchema): TSchema {
  if (isAnyKeyRecord(schema)) return Type.Object({});
  const copy = CloneType(schema);
  if (KindGuard.IsObject(copy)) {
    if (copy.additionalProperties === false) delete copy.additionalProperties;
    for (const [key, property] of Object.entries(copy.properties))
      copy.properties[key] = withoutKeyRules(property);
  } else if (KindGuard.IsArray(copy)) {
    copy.items = withoutKeyRules(copy.items);
  }
  return copy;
}

/** The key rules of `schema` for a value that already passed the open check; undefined if none. */
function keyRuleCheck(schema: TSchema): KeyCheck | undefined {
  if (isAnyKeyRecord(schema)) {
    const [valueSchema] = Object.values(schema.patternProperties as Record<string, TSchema>);
    const valueCheck = TypeCompiler.Compile(valueSchema as TSchema);
    return (value) => {
      // TypeBox's record check refuses these two objects as well.
      if (value instanceof Date || value instanceof Uint8Array) return false;
      const record = value as Record<string, unknown>;
      for (const key in record) if (!valueCheck.Check(record[key])) return false;
      return true;
    };
  }
  if (KindGuard.IsArray(schema)) {
    const item = keyRuleCheck(schema.items);
    return item && ((value) => (value as unknown[]).every(item));
  }
  if (!KindGuard.IsObject(schema)) return undefined;
  const nested = Object.entries(schema.properties).flatMap(([key, property]) => {
    const check = keyRuleCheck(property);
    return check ? [{ key, check }] : [];
  });
  const cases = Object.keys(schema.properties)
    .map((key) => `case ${JSON.stringify(key)}:`)
    .join(' ');
  const ownKeys =
    schema.additionalProperties === false
      ? (new Function(
          'value',
          `for (const key in value) switch (key) { ${cases} continue; default: return false; } return true;`,
        ) as KeyCheck)
      : undefined;
  if (nested.length === 0) return ownKeys;
  return (value) => {
    if (ownKeys && !ownKeys(value)) return false;
    const record = value as Record<string, unknown>;
    for (const { key, check } of nested) if (record[key] !== undefined && !check(record[key])) return false;
    return true;
  };
}

/**
 * Rules across fields that JSON Schema cannot say. Documented in README ("Bad input"): an
 * inconsistent bar or a crossed quote is rejected, not repaired, because no repair is safe to guess.
 */
const invariants: Partial<{ [N in MessageName]: (message: MessageOf<N>) => string | undefined }> = {
  bar: (bar) => {
    if (bar.low > bar.high) return `bar: /low ${bar.low} is above /high ${bar.high}`;
    if (bar.open > bar.high || bar.close > bar.high) return 'bar: /open or /close is above /high';
    if (bar.open < bar.low || bar.close < bar.low) return 'bar: /open or /close is below /low';
    return undefined;
  },
  order_intent: orderIntentProblem,
  quote_tick: (quote) =>
    quote.bid > quote.ask ? `quote_tick: crossed: /bid ${quote.bid} > /ask ${quote.ask}` : undefined,
};

const contracts = new Map(
  Object.entries(messageSchemas).map(([name, schema]): [string, Contract] => [
    name,
    {
      open: TypeCompiler.Compile(withoutKeyRules(schema)),
      keys: keyRuleCheck(schema) ?? (() => true),
      invariant: invariants[name as MessageName] as Contract['invariant'],
      full: undefined,
    },
  ]),
) as ReadonlyMap<MessageName, Contract>;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Checks an already-parsed value against a contract; the reason names the first failing field. */
export function validateMessage<N extends MessageName>(name: N, value: unknown): Decoded<MessageOf<N>> {
  const reason = contractViolation(name, value);
  return reason === undefined ? { ok: true, value: value as MessageOf<N> } : { ok: false, reason };
}

/**
 * Why `value` breaks the contract `name`, or undefined when it keeps it. Allocates nothing for a
 * valid value (publish paths check every event).
 */
export function contractViolation(name: MessageName, value: unknown): string | undefined {
  const contract = contracts.get(name) as Contract;
  if (contract.open.Check(value) && contract.keys(value)) return contract.invariant?.(value);
  contract.full ??= TypeCompiler.Compile(messageSchemas[name] as TSchema);
  const first = contract.full.Errors(value).First();
  const where = first?.path ? first.path : '(root)';
  return `${name}: ${where}: ${first?.message ?? 'invalid'}`;
}

const textDecoder = new TextDecoder();

/** Parses JSON bytes and validates them; malformed JSON is a failure with the parser's reason, never a throw. */
export function decodeMessage<N extends MessageName>(name: N, bytes: Uint8Array): Decoded<MessageOf<N>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textDecoder.decode(bytes));
  } catch (error) {
    return { ok: false, reason: `${name}: malformed JSON: ${(error as Error).message}` };
  }
  return validateMessage(name, parsed);
}

/** Messages that share one subject (trade and quote ticks) are told apart by their `schema` tag. */
export function decodeOneOf<N extends MessageName>(
  names: readonly N[],
  bytes: Uint8Array,
): Decoded<MessageOf<N>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(textDecoder.decode(bytes));
  } catch (error) {
    return { ok: false, reason: `malformed JSON: ${(error as Error).message}` };
  }
  const tag = (parsed as { schema?: unknown } | null)?.schema;
  const name = names.find((candidate) => messageSchemas[candidate].properties.schema.const === tag);
  if (!name)
    return {
      ok: false,
      reason: `unknown schema tag ${JSON.stringify(tag)}; expected one of ${names.join(', ')}`,
    };
  return validateMessage(name, parsed);
}

const manifestContract = TypeCompiler.Compile(ModelManifestSchema);

/**
 * Checks a parsed model manifest. A manifest of another version is named as such (this build reads
 * only MODEL_MANIFEST_VERSION); any other problem names the first failing field.
 */
export function validateModelManifest(value: unknown): Decoded<ModelManifest> {
  if (manifestContract.Check(value)) return { ok: true, value };
  const version = (value as { manifestVersion?: unknown } | null)?.manifestVersion;
  if (typeof value === 'object' && value !== null && version !== MODEL_MANIFEST_VERSION) {
    return {
      ok: false,
      reason: `${modelManifestTag}: /manifestVersion: is ${JSON.stringify(version)}; this Sluice reads manifest version ${MODEL_MANIFEST_VERSION} only`,
    };
  }
  const first = manifestContract.Errors(value).First();
  return {
    ok: false,
    reason: `${modelManifestTag}: ${first?.path ? first.path : '(root)'}: ${first?.message ?? 'invalid'}`,
  };
}

/** Parses manifest JSON (text or bytes) and validates it; malformed JSON is a failure, never a throw. */
export function decodeModelManifest(json: string | Uint8Array): Decoded<ModelManifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof json === 'string' ? json : textDecoder.decode(json));
  } catch (error) {
    return { ok: false, reason: `${modelManifestTag}: malformed JSON: ${(error as Error).message}` };
  }
  return validateModelManifest(parsed);
}
