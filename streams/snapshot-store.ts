// Where actors keep the state that must survive a restart, with the stream sequence it reflects
// (design §4). Live and NATS backtests use a JetStream KV bucket; in-process runs use memory. An
// actor saves before it acks the message that changed its state, so a restart restores a state at
// or beyond its durable consumer's ack point and skips redelivered messages it already applied.
// A snapshot is stored with the version of its contract (schemas/snapshots.ts) and checked against it
// when loaded: a malformed, other-version or edited snapshot is refused with the reason, never cast.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { SnapshotContract } from '../schemas/snapshots.ts';
import { applyBucket, openBucket } from './topology.ts';

export interface Snapshot<T> {
  value: T;
  /** Stream sequence of the last input reflected in `value` (0: none). */
  sequence: number;
}

/** Where snapshots are kept: text per key, checked and parsed by loadSnapshot. */
export interface SnapshotStore {
  get(key: string): Promise<string | undefined>;
  put(key: string, text: string): Promise<void>;
}

/** A snapshot that kept its contract, none (undefined), or the reason it was refused. */
export type LoadedSnapshot<T> =
  | { ok: true; snapshot: Snapshot<T> | undefined }
  | { ok: false; reason: string };

/**
 * The snapshot under `key` if it keeps `contract`; `mismatch` refuses what the contract cannot know
 * is wrong (another account's state copied under this key).
 */
export async function loadSnapshot<T>(
  store: SnapshotStore | undefined,
  key: string,
  contract: SnapshotContract<T>,
  mismatch?: (value: T) => string | undefined,
): Promise<LoadedSnapshot<T>> {
  const text = await store?.get(key);
  if (text === undefined) return { ok: true, snapshot: undefined };
  const refused = (reason: string): LoadedSnapshot<T> => ({
    ok: false,
    reason: `snapshot ${key}: ${reason}`,
  });
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch (error) {
    return refused(`malformed JSON: ${(error as Error).message}`);
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return refused('not an object');
  const { schema, value, sequence, ...rest } = stored as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) return refused(`unexpected ${extra.join(', ')}`);
  // Snapshots saved before the contracts were versioned carry no tag: their shape is the first version's.
  const tag = String(schema ?? `${contract.name}.v1`);
  const check = tag === contract.schema ? contract.check : contract.earlier?.[tag];
  if (check === undefined) {
    const readable = [contract.schema, ...Object.keys(contract.earlier ?? {})].join(', ');
    return refused(`is ${tag}; this release reads ${readable}`);
  }
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 0)
    return refused('sequence: not a stream sequence');
  const checked = check(value);
  if (!checked.ok) return refused(`${tag}: ${checked.reason}`);
  const wrong = mismatch?.(checked.value);
  if (wrong !== undefined) return refused(wrong);
  return { ok: true, snapshot: { value: checked.value, sequence: sequence as number } };
}

/** Saves `snapshot` under its contract's version; without a store (in-process runs) nothing is kept. */
export async function saveSnapshot<T>(
  store: SnapshotStore | undefined,
  key: string,
  contract: SnapshotContract<T>,
  snapshot: Snapshot<T>,
): Promise<void> {
  await store?.put(key, JSON.stringify({ schema: contract.schema, ...snapshot }));
}

/** A name as one KV-key or consumer-name token: characters other than letters, digits, `-`, `_` become `_`. */
export function safeToken(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

export function snapshotKey(actor: string, name: string): string {
  return `${actor}.${safeToken(name)}`;
}

/** The bucket the trading actors keep their snapshots in, unless the run config names another. */
export const SNAPSHOT_BUCKET = 'sluice_snapshots';

/** Creates or updates the snapshot bucket (`sluice bootstrap`). */
export async function applySnapshotBucket(
  jetstream: JetStreamClient,
  bucket = SNAPSHOT_BUCKET,
  replicas = 1,
): Promise<void> {
  await applyBucket(jetstream, { bucket, history: 1, replicas, description: 'Sluice actor snapshots' });
}

export class KvSnapshotStore implements SnapshotStore {
  private constructor(private readonly kv: KV) {}

  /** Opens the bucket `sluice bootstrap` made; MissingTopologyError when it is not there. */
  static async open(jetstream: JetStreamClient, bucket = SNAPSHOT_BUCKET): Promise<KvSnapshotStore> {
    return new KvSnapshotStore(await openBucket(jetstream, bucket));
  }

  async get(key: string): Promise<string | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return entry.string();
  }

  async put(key: string, text: string): Promise<void> {
    await this.kv.put(key, text);
  }
}
