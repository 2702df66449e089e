// Lockstep for backtests over NATS: after publishing one event, wait until every consumer of the
// run's streams has nothing pending and nothing unacknowledged, and no stream grew while we looked.
// Actors acknowledge only after their outputs are stored (checkpoint), so "quiet" means the whole
// cascade of the event has been handled.
import type { JetStreamManager } from '@nats-io/jetstream';
import { streamNames } from '../schemas/subjects.ts';
import { streamName } from '../streams/topology.ts';

async function lastSequences(manager: JetStreamManager, streams: readonly string[]): Promise<number[]> {
  return Promise.all(streams.map(async (stream) => (await manager.streams.info(stream)).state.last_seq));
}

/** Consumers that still have work: none when the run is quiet. */
async function busyConsumers(manager: JetStreamManager, streams: readonly string[]): Promise<string[]> {
  const busy: string[] = [];
  for (const stream of streams) {
    for await (const consumer of manager.consumers.list(stream)) {
      if (consumer.num_pending > 0 || consumer.num_ack_pending > 0) {
        busy.push(
          `${consumer.name}: pending ${consumer.num_pending}, unacknowledged ${consumer.num_ack_pending}`,
        );
      }
    }
  }
  return busy;
}

export async function waitForQuiet(
  manager: JetStreamManager,
  namespace: string,
  timeoutMs = 30_000,
): Promise<void> {
  const streams = streamNames.map((stream) => streamName(stream, namespace));
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const before = await lastSequences(manager, streams);
    const busy = await busyConsumers(manager, streams);
    if (busy.length === 0) {
      const after = await lastSequences(manager, streams);
      if (after.every((sequence, index) => sequence === before[index])) return;
    }
    if (performance.now() > deadline) {
      throw new Error(`backtest over NATS did not settle within ${timeoutMs} ms: ${busy.join('; ')}`);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}
