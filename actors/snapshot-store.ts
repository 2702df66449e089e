// Where actors keep the state that must survive a restart, with the stream sequence it reflects
// (design §4). Live and NATS backtests use a JetStream KV bucket; in-process runs use memory. An
// actor saves before it acks the message that changed its state, so a restart restores a state at
// or beyond its durable consumer's ack point and skips redelivered messages it already applied.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { applyBucket, openBucket } from '../streams/topology.ts';

export interface Snapshot<T> {
  value: T;
  /** Stream sequence of the last input reflected in `value` (0: none). */
  sequence: number;
}

export interface SnapshotStore {
  load<T>(key: string): Promise<Snapshot<T> | undefined>;
  save<T>(key: string, snapshot: Snapshot<T>): Promise<void>;
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

  async load<T>(key: string): Promise<Snapshot<T> | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return entry.json<Snapshot<T>>();
  }

  async save<T>(key: string, snapshot: Snapshot<T>): Promise<void> {
    await this.kv.put(key, JSON.stringify(snapshot));
  }
}
