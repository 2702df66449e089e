// A snapshot store in memory, for unit tests of actors that save and restore their snapshots: its
// texts are what the KV bucket would hold, open to inspection and to tampering.
import type { SnapshotStore } from '../../streams/snapshot-store.ts';

export class MemorySnapshotStore implements SnapshotStore {
  readonly texts = new Map<string, string>();
  async get(key: string): Promise<string | undefined> {
    return this.texts.get(key);
  }
  async put(key: string, text: string): Promise<void> {
    this.texts.set(key, text);
  }
}
