// Risk limits: the configuration every pre-trade check reads. Every limit is optional in the type on
// purpose: a limit that is missing is not a default, it makes its check deny (fail closed, code
// LIMIT_NOT_CONFIGURED). A limit that is present but malformed stops start-up with a ConfigError.
import { ConfigError } from '../../core/errors.ts';

export interface InstrumentLimits {
  minQuantity?: number;
  maxQuantity?: number;
  /** Largest absolute position, counting every working order as if it filled. */
  maxPosition?: number;
}

/** At most `maxOrders` passed orders in any window of `windowMs` of event time. */
export interface RateLimit {
  maxOrders: number;
  windowMs: number;
}

/** A trading window in UTC: weekdays 0 (Sunday) … 6, minutes after midnight, open inclusive, close exclusive. */
export interface TradingSession {
  days: number[];
  openMinute: number;
  closeMinute: number;
}

export interface RiskLimits {
  /** Known instruments; a symbol not listed is INSTRUMENT_UNKNOWN. */
  instruments?: Record<string, InstrumentLimits>;
  maxOrderNotional?: number;
  /** Largest distance of the order price from the reference price, in basis points. */
  priceCollarBps?: number;
  maxGrossExposure?: number;
  /** Bound on |net exposure|. */
  maxNetExposure?: number;
  orderRate?: RateLimit;
  /** Same symbol and side. */
  repeatedExecution?: RateLimit;
  maxMarketDataAgeMs?: number;
  minConfidence?: number;
  tradingSessions?: TradingSession[];
  restricted?: string[];
  /** Loss since the start of the UTC day, in account currency, that halts trading. */
  maxDailyLoss?: number;
  /** Fall from peak equity, as a fraction (0.1 = 10 %), that switches to reducing. */
  maxDrawdown?: number;
}

/** Every top-level limit, in the order the checks read them. */
export const limitNames = [
  'instruments',
  'maxOrderNotional',
  'priceCollarBps',
  'maxGrossExposure',
  'maxNetExposure',
  'orderRate',
  'repeatedExecution',
  'maxMarketDataAgeMs',
  'minConfidence',
  'tradingSessions',
  'restricted',
  'maxDailyLoss',
  'maxDrawdown',
] as const satisfies readonly (keyof RiskLimits)[];

export const instrumentLimitNames = [
  'minQuantity',
  'maxQuantity',
  'maxPosition',
] as const satisfies readonly (keyof InstrumentLimits)[];

/** Names of the limits that are missing (each will deny every order); log them at start-up. */
export function unconfiguredLimits(limits: RiskLimits): string[] {
  const missing: string[] = limitNames.filter((name) => limits[name] === undefined);
  for (const [symbol, instrument] of Object.entries(limits.instruments ?? {})) {
    for (const name of instrumentLimitNames) {
      if (instrument[name] === undefined) missing.push(`instruments.${symbol}.${name}`);
    }
  }
  return missing;
}

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function number(
  raw: unknown,
  field: string,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < min || raw > max) {
    const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(
      field,
      `must be a finite number ${range}, got ${JSON.stringify(raw)}`,
      `Set ${field} to a number ${range}, or remove it to deny every order until it is set.`,
    );
  }
  return raw;
}

function positive(raw: unknown, field: string): number | undefined {
  const value = number(raw, field, 0);
  if (value === 0)
    throw new ConfigError(field, 'must be greater than 0', `Set ${field} to a positive number.`);
  return value;
}

function rateLimit(raw: unknown, field: string): RateLimit | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw))
    throw new ConfigError(
      field,
      'must be an object',
      `Set ${field} to { "maxOrders": 10, "windowMs": 1000 }.`,
    );
  const maxOrders = number(raw.maxOrders, `${field}.maxOrders`, 1);
  const windowMs = positive(raw.windowMs, `${field}.windowMs`);
  if (maxOrders === undefined || !Number.isInteger(maxOrders)) {
    throw new ConfigError(
      `${field}.maxOrders`,
      'must be an integer >= 1',
      `Set ${field}.maxOrders, e.g. 10.`,
    );
  }
  if (windowMs === undefined)
    throw new ConfigError(`${field}.windowMs`, 'is missing', `Set ${field}.windowMs, e.g. 1000.`);
  return { maxOrders, windowMs };
}

function minuteOfDay(raw: unknown, field: string): number {
  const match = typeof raw === 'string' ? /^([0-9]{2}):([0-9]{2})$/.exec(raw) : null;
  const minutes = match ? Number(match[1]) * 60 + Number(match[2]) : Number.NaN;
  if (!(minutes >= 0 && minutes <= 24 * 60 && Number(match?.[2]) < 60)) {
    throw new ConfigError(
      field,
      `must be a UTC time "HH:MM" between 00:00 and 24:00, got ${JSON.stringify(raw)}`,
      `Set ${field} to e.g. "13:30".`,
    );
  }
  return minutes;
}

function sessions(raw: unknown, field: string): TradingSession[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw))
    throw new ConfigError(
      field,
      'must be an array',
      `Set ${field} to [{ "days": [1,2,3,4,5], "open": "13:30", "close": "20:00" }].`,
    );
  return raw.map((entry: unknown, index) => {
    const at = `${field}[${index}]`;
    if (!isRecord(entry)) throw new ConfigError(at, 'must be an object', `Give ${at} days, open and close.`);
    const days = entry.days;
    if (
      !Array.isArray(days) ||
      days.length === 0 ||
      !days.every((d) => Number.isInteger(d) && d >= 0 && d <= 6)
    ) {
      throw new ConfigError(
        `${at}.days`,
        'must be a non-empty list of weekdays 0 (Sunday) to 6',
        `Set ${at}.days to e.g. [1,2,3,4,5].`,
      );
    }
    const openMinute = minuteOfDay(entry.open, `${at}.open`);
    const closeMinute = minuteOfDay(entry.close, `${at}.close`);
    if (closeMinute <= openMinute) {
      throw new ConfigError(
        `${at}.close`,
        'must be after open (a session past midnight is two sessions)',
        `Split ${at} at 24:00.`,
      );
    }
    return { days: days as number[], openMinute, closeMinute };
  });
}

function instruments(raw: unknown, field: string): Record<string, InstrumentLimits> | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw))
    throw new ConfigError(
      field,
      'must be an object keyed by symbol',
      `Set ${field} to { "AAPL": { "minQuantity": 1, "maxQuantity": 1000, "maxPosition": 5000 } }.`,
    );
  const out: Record<string, InstrumentLimits> = {};
  for (const [symbol, entry] of Object.entries(raw)) {
    const at = `${field}.${symbol}`;
    if (!isRecord(entry))
      throw new ConfigError(at, 'must be an object', `Give ${at} minQuantity, maxQuantity and maxPosition.`);
    const limits: InstrumentLimits = {
      minQuantity: positive(entry.minQuantity, `${at}.minQuantity`),
      maxQuantity: positive(entry.maxQuantity, `${at}.maxQuantity`),
      maxPosition: positive(entry.maxPosition, `${at}.maxPosition`),
    };
    if (
      limits.minQuantity !== undefined &&
      limits.maxQuantity !== undefined &&
      limits.minQuantity > limits.maxQuantity
    ) {
      throw new ConfigError(
        `${at}.minQuantity`,
        'is larger than maxQuantity',
        `Lower ${at}.minQuantity or raise maxQuantity.`,
      );
    }
    out[symbol] = limits;
  }
  return out;
}

function symbols(raw: unknown, field: string): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw) || !raw.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new ConfigError(
      field,
      'must be a list of symbols (an empty list restricts nothing)',
      `Set ${field} to e.g. ["XYZ"] or [].`,
    );
  }
  return raw as string[];
}

/** Parses raw config (JSON, KV). Unknown keys are errors, since a misspelt limit would silently fail closed. */
export function parseRiskLimits(raw: unknown, field = 'risk.limits'): RiskLimits {
  if (!isRecord(raw))
    throw new ConfigError(field, 'must be an object', `Set ${field} to an object of limits.`);
  const known = new Set<string>(limitNames);
  for (const key of Object.keys(raw)) {
    if (!known.has(key))
      throw new ConfigError(
        `${field}.${key}`,
        'is not a known limit',
        `Use one of: ${limitNames.join(', ')}.`,
      );
  }
  return {
    instruments: instruments(raw.instruments, `${field}.instruments`),
    maxOrderNotional: positive(raw.maxOrderNotional, `${field}.maxOrderNotional`),
    priceCollarBps: positive(raw.priceCollarBps, `${field}.priceCollarBps`),
    maxGrossExposure: positive(raw.maxGrossExposure, `${field}.maxGrossExposure`),
    maxNetExposure: positive(raw.maxNetExposure, `${field}.maxNetExposure`),
    orderRate: rateLimit(raw.orderRate, `${field}.orderRate`),
    repeatedExecution: rateLimit(raw.repeatedExecution, `${field}.repeatedExecution`),
    maxMarketDataAgeMs: positive(raw.maxMarketDataAgeMs, `${field}.maxMarketDataAgeMs`),
    minConfidence: number(raw.minConfidence, `${field}.minConfidence`, 0, 1),
    tradingSessions: sessions(raw.tradingSessions, `${field}.tradingSessions`),
    restricted: symbols(raw.restricted, `${field}.restricted`),
    maxDailyLoss: positive(raw.maxDailyLoss, `${field}.maxDailyLoss`),
    maxDrawdown: number(raw.maxDrawdown, `${field}.maxDrawdown`, Number.MIN_VALUE, 1),
  };
}
