// The order and fill ledger of a backtest: one canonical JSON line per entry, in processing order. Its hash
// is what "the same inputs give the same run" is checked against, so key order inside an entry must not
// matter (canonical JSON sorts keys) while the order of entries must (it is the order things happened).
import { createHash, type Hash } from 'node:crypto';

import type { JsonValue } from '../schemas/jobs.ts';
import type { Fill, OrderEvent, Signal } from '../schemas/messages.ts';

export type { JsonValue };

export type LedgerEntryKind = 'order' | 'fill' | 'signal';

/**
 * JSON with object keys sorted at every level and no insignificant whitespace. Throws on values JSON
 * cannot hold exactly (NaN, ±Infinity), which would otherwise hash as `null` and hide a bug.
 */
/** Keys quoted once: ledgers repeat the same few keys in every entry. */
const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 4_096) quotedKeys.set(key, quoted);
  }
  return quoted;
}

export function canonicalJson(value: JsonValue): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: ${value} is not a JSON number`);
    // A finite number's JSON text is its String() text (-0 included), without a JSON.stringify call.
    return String(value);
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  // Loops that build one string: a ledger entry is written for every signal, order and fill.
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index++) {
      if (index > 0) text += ',';
      text += canonicalJson(value[index] as JsonValue);
    }
    return `${text}]`;
  }
  const record = value as { readonly [key: string]: JsonValue };
  const keys = Object.keys(record).sort();
  let text = '{';
  for (const key of keys) {
    const field = record[key];
    if (field === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${quotedKey(key)}:${canonicalJson(field)}`;
  }
  return `${text}}`;
}

export class Ledger {
  private readonly lines: string[] = [];
  private readonly digest: Hash = createHash('sha256');
  /** Lines not yet hashed: one native digest call per 64 KiB instead of per entry. */
  private unhashed = '';
  private count = 0;

  /** `keepLines: false` keeps only the running hash (ledgers of millions of entries). */
  constructor(private readonly options: { keepLines: boolean } = { keepLines: true }) {}

  /** Appends `{"entry": …, "kind": …}` as one canonical line. */
  append(kind: LedgerEntryKind, entry: { readonly [key: string]: JsonValue }): void {
    const line = canonicalJson({ kind, entry });
    if (this.options.keepLines) this.lines.push(line);
    this.unhashed += `${line}\n`;
    if (this.unhashed.length >= 65_536) this.hashPending();
    this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** SHA-256 (hex) over the entries in order, each line followed by `\n`: the hash of `toJsonLines()`. */
  hash(): string {
    this.hashPending();
    return this.digest.copy().digest('hex');
  }

  private hashPending(): void {
    this.digest.update(this.unhashed);
    this.unhashed = '';
  }

  /** The ledger as JSON Lines, for files and the database. */
  toJsonLines(): string {
    if (!this.options.keepLines) throw new Error('this ledger keeps only its hash');
    return this.lines.map((line) => `${line}\n`).join('');
  }
}

/** What the order and fill ledger holds: the execution actor's order events and fills. */
export type ExecutionEntry = { kind: 'order'; event: OrderEvent } | { kind: 'fill'; event: Fill };

/**
 * The order and fill ledger of a run, backtest or live session alike, in canonical order: by event
 * time, then id. Within one event's cascade the execution actor's order events and fills may reach
 * the stream in either order over NATS; sorting keeps the hash a function of what happened, not of
 * delivery interleaving.
 */
export function executionLedger(entries: Iterable<ExecutionEntry>): Ledger {
  const ledger = new Ledger();
  const sorted = [...entries].sort(
    (a, b) =>
      a.event.ts_event - b.event.ts_event || (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0),
  );
  for (const entry of sorted) ledger.append(entry.kind, entry.event);
  return ledger;
}

/** A signal's line in the signal ledger (arrival order): what a replay compares with its session. */
export function appendSignal(ledger: Ledger, signal: Signal): void {
  ledger.append('signal', { id: signal.id, direction: signal.direction, probability: signal.probability });
}
