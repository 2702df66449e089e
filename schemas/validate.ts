// Compiled validators for every message contract. TypeBox compiles each schema once into a
// specialised function, which keeps validation cheap enough for the per-message consume path.
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type MessageName, type MessageOf, messageSchemas } from './messages.ts';

type Checkers = { [N in MessageName]: TypeCheck<(typeof messageSchemas)[N]> };

const checkers = Object.fromEntries(
  Object.entries(messageSchemas).map(([name, schema]) => [name, TypeCompiler.Compile(schema)]),
) as Checkers;

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

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
  quote_tick: (quote) =>
    quote.bid > quote.ask ? `quote_tick: crossed: /bid ${quote.bid} > /ask ${quote.ask}` : undefined,
};

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
  const checker = checkers[name] as TypeCheck<(typeof messageSchemas)[MessageName]>;
  if (checker.Check(value)) {
    const invariant = invariants[name] as ((message: unknown) => string | undefined) | undefined;
    return invariant?.(value);
  }
  const first = checker.Errors(value).First();
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
