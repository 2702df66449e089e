// Where actors keep the state that must survive a restart, with the stream sequence it reflects
// (design §4). Live and NATS backtests use a JetStream KV bucket; in-process runs use memory. An
// actor saves before it acks the message that changed its state, so a restart restores a state at
// or beyond its durable consumer's ack point and skips redelivered messages it already applied.
import type { JetStreamClient } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';

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

export class KvSnapshotStore implements SnapshotStore {
  private constructor(private readonly kv: KV) {}

  /** Opens (or creates) the bucket; `bucket` must be a valid KV name, e.g. `sluice_snapshots`. */
  static async open(jetstream: JetStreamClient, bucket: string): Promise<KvSnapshotStore> {
    const kv = await new Kvm(jetstream).create(bucket, { history: 1 });
    return new KvSnapshotStore(kv);
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
