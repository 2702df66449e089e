// The order and fill ledger of a backtest: one canonical JSON line per entry, in processing order. Its hash
// is what "the same inputs give the same run" is checked against, so key order inside an entry must not
// matter (canonical JSON sorts keys) while the order of entries must (it is the order things happened).
import { createHash, type Hash } from 'node:crypto';

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

export type LedgerEntryKind = 'order' | 'fill' | 'signal';

/**
 * JSON with object keys sorted at every level and no insignificant whitespace. Throws on values JSON
 * cannot hold exactly (NaN, ±Infinity), which would otherwise hash as `null` and hide a bug.
 */
export function canonicalJson(value: JsonValue): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item: JsonValue) => canonicalJson(item)).join(',')}]`;
  const record = value as { readonly [key: string]: JsonValue };
  const keys = Object.keys(record)
    .filter((key) => record[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key]!)}`).join(',')}}`;
}

export class Ledger {
  private readonly lines: string[] = [];
  private readonly digest: Hash = createHash('sha256');
  private count = 0;

  /** `keepLines: false` keeps only the running hash (ledgers of millions of entries). */
  constructor(private readonly options: { keepLines: boolean } = { keepLines: true }) {}

  /** Appends `{"entry": …, "kind": …}` as one canonical line. */
  append(kind: LedgerEntryKind, entry: { readonly [key: string]: JsonValue }): void {
    const line = canonicalJson({ kind, entry });
    if (this.options.keepLines) this.lines.push(line);
    this.digest.update(`${line}\n`);
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** SHA-256 (hex) over the entries in order, each line followed by `\n`: the hash of `toJsonLines()`. */
  hash(): string {
    return this.digest.copy().digest('hex');
  }

  /** The ledger as JSON Lines, for files and the database. */
  toJsonLines(): string {
    if (!this.options.keepLines) throw new Error('this ledger keeps only its hash');
    return this.lines.map((line) => `${line}\n`).join('');
  }
}
