// Config files are JSON checked against a TypeBox schema; every problem stops start-up with a
// ConfigError naming the field (a JSON pointer) or the flag that named the file.
import { readFileSync } from 'node:fs';
import { KindGuard, type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { ConfigError } from './errors.ts';

/** Reads and parses a JSON file named by `flag`. */
export function readJsonFile(path: string, flag = '--config'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      flag,
      `cannot read ${path}: ${(error as Error).message}`,
      'Give the path of a JSON file',
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(flag, `${path} is not JSON: ${(error as Error).message}`, 'Fix the JSON syntax');
  }
}

/** The value typed by `schema`, or a ConfigError naming the first field that breaks it (and its value). */
export function checkConfig<T extends TSchema>(schema: T, raw: unknown, fix: string): Static<T> {
  const first = Value.Errors(schema, raw).First();
  if (first)
    throw new ConfigError(first.path || '(root)', `${first.message.toLowerCase()}${got(first)}`, fix);
  return raw as Static<T>;
}

/**
 * The bad value, where showing it cannot leak a secret (config files hold webhook URLs): numbers,
 * booleans, null, and a string only where the field is a choice of fixed words.
 */
function got({ value, schema }: ValueError): string {
  const choice =
    KindGuard.IsLiteral(schema) || (KindGuard.IsUnion(schema) && schema.anyOf.every(KindGuard.IsLiteral));
  const shown =
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value === null ||
    (typeof value === 'string' && choice);
  return shown ? `, got ${JSON.stringify(value)}` : '';
}

/** A copy of `raw` with the schema's defaults filled in where fields are absent (`raw` is left as is). */
export function withDefaults(schema: TSchema, raw: unknown): unknown {
  return Value.Default(schema, structuredClone(raw));
}

/** A calendar date field of a config file. */
export const IsoDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD (UTC)' });

/** UTC midnight of an IsoDate, epoch ms. */
export function dateMillis(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}
