// Config files are JSON checked against a TypeBox schema; every problem stops start-up with a
// ConfigError naming the field (a JSON pointer) or the flag that named the file.
import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
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

/** The value typed by `schema`, or a ConfigError naming the first field that breaks it and its value. */
export function checkConfig<T extends TSchema>(schema: T, raw: unknown, fix: string): Static<T> {
  const first = Value.Errors(schema, raw).First();
  if (first) {
    const got = first.value === undefined ? '' : `, got ${JSON.stringify(first.value)}`;
    throw new ConfigError(first.path || '(root)', `${first.message.toLowerCase()}${got}`, fix);
  }
  return raw as Static<T>;
}

/** A copy of `raw` with the schema's defaults filled in where fields are absent (`raw` is left as is). */
export function withDefaults(schema: TSchema, raw: unknown): unknown {
  return Value.Default(schema, structuredClone(raw));
}
