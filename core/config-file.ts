// Config files are JSON checked against a TypeBox schema; every problem stops start-up with a
// ConfigError naming the field (a JSON pointer) or the flag that named the file.
import { readFileSync } from 'node:fs';
import { FormatRegistry, Kind, KindGuard, type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value, type ValueError, ValueErrorType } from '@sinclair/typebox/value';
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

/** The value typed by `schema`, or a ConfigError naming the first field that breaks it and what it takes. */
export function checkConfig<T extends TSchema>(schema: T, raw: unknown, fix: string): Static<T> {
  const first = Value.Errors(schema, raw).First();
  if (first) {
    const { path, problem } = explain(first);
    throw new ConfigError(path || '(root)', problem, fix);
  }
  return raw as Static<T>;
}

/** A string choice's words, or undefined when `schema` is not a choice of fixed words. */
function choices(schema: TSchema): unknown[] | undefined {
  if (KindGuard.IsLiteral(schema)) return [schema.const];
  if (KindGuard.IsUnion(schema) && schema.anyOf.every(KindGuard.IsLiteral)) {
    return schema.anyOf.map((variant) => variant.const);
  }
  return undefined;
}

/** The property whose literal value tells a union's object variants apart (e.g. `kind`). */
function discriminant(variants: TSchema[]): string | undefined {
  const [first] = variants;
  if (!first || !KindGuard.IsObject(first)) return undefined;
  return Object.keys(first.properties).find((key) =>
    variants.every((variant) => KindGuard.IsObject(variant) && KindGuard.IsLiteral(variant.properties[key])),
  );
}

/**
 * What a field accepts, in words: a union names its choices, and a union of objects told apart by a
 * literal property reports against the variant the value picks (or that property, when it picks none).
 */
function explain(error: ValueError): { path: string; problem: string } {
  const { schema, value, path } = error;
  const words = choices(schema);
  if (words)
    return {
      path,
      problem: `expected one of ${words.map((word) => JSON.stringify(word)).join(', ')}${got(error)}`,
    };
  if (KindGuard.IsUnion(schema)) {
    const key = discriminant(schema.anyOf);
    if (key) {
      const keys = schema.anyOf.map((variant) => JSON.stringify(variant.properties[key].const)).join(', ');
      if (typeof value !== 'object' || value === null) {
        return { path, problem: `expected an object whose "${key}" is one of ${keys}` };
      }
      const picked = (value as Record<string, unknown>)[key];
      const variant = schema.anyOf.find((candidate) => candidate.properties[key].const === picked);
      const inner = variant && Value.Errors(variant, value).First();
      if (inner) {
        const explained = explain(inner);
        return { path: `${path}${explained.path}`, problem: explained.problem };
      }
      const shown = typeof picked === 'string' ? `, got ${JSON.stringify(picked)}` : '';
      return { path: `${path}/${key}`, problem: `expected one of ${keys}${shown}` };
    }
    const kinds = schema.anyOf.map((variant) => variant.description ?? variant.type ?? variant[Kind]);
    return { path, problem: `expected one of: ${[...new Set(kinds)].join(', ')}${got(error)}` };
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) return { path, problem: 'is required' };
  const expected = schema.description ? `expected ${schema.description}` : error.message.toLowerCase();
  return { path, problem: `${expected}${got(error)}` };
}

/**
 * The bad value, where showing it cannot leak a secret (config files hold webhook URLs): numbers,
 * booleans, null, and a string only where the field is a choice of fixed words or a date.
 */
function got({ value, schema }: ValueError): string {
  const shown =
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value === null ||
    (typeof value === 'string' && (choices(schema) !== undefined || schema.format === CALENDAR_DATE));
  return shown ? `, got ${JSON.stringify(value)}` : '';
}

/** A copy of `raw` with the schema's defaults filled in where fields are absent (`raw` is left as is). */
export function withDefaults(schema: TSchema, raw: unknown): unknown {
  return Value.Default(schema, structuredClone(raw));
}

const CALENDAR_DATE = 'calendar-date';

/** `YYYY-MM-DD` naming a day that exists (`2014-02-30` does not; Date.parse would make it March 2). */
export function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === text;
}

FormatRegistry.Set(CALENDAR_DATE, isCalendarDate);

/** A calendar date field of a config file. */
export const IsoDate = Type.String({
  format: CALENDAR_DATE,
  description: 'a calendar date YYYY-MM-DD (UTC)',
});

/** `value` of a date flag or field when it is a calendar date; else a ConfigError naming `field`. */
export function checkDate(field: string, value: string): string {
  if (!isCalendarDate(value)) {
    throw new ConfigError(field, `"${value}" is not a calendar date`, 'Use YYYY-MM-DD, e.g. 2014-02-28');
  }
  return value;
}

/** UTC midnight of an IsoDate, epoch ms. */
export function dateMillis(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}
