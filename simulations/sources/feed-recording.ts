// A recorded live session as a replay source: the frames `sluice feed --record` kept in the RAW
// stream, run through the same adapter's `decode`, give the events the live feed published, ids and
// ts_init included, in the order it published them. What the live stream refused is refused here the
// same way: an event that breaks its contract, and an id already published inside the stream's
// duplicate window (a reconnect's backfill overlapping the live frames).
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { FeedAdapter, FeedEvent } from '../../actors/feed/adapter.ts';
import type { JsonValue } from '../../schemas/jobs.ts';
import type { FeedFrame, MessageName } from '../../schemas/messages.ts';
import type { Subjects } from '../../schemas/subjects.ts';
import { decodeMessage, validateMessage } from '../../schemas/validate.ts';
import { streamName } from '../../streams/topology.ts';

/** The stream's duplicate window (streams/topology.ts), which the live feed's duplicates met. */
const DUPLICATE_WINDOW_MS = 86_400_000;

export interface RecordingSelection {
  provider: string;
  /** One feed session (the `session` of its frames); every session of the provider when absent. */
  session?: string;
  /** Receive times, epoch ms: [fromMs, toMs). */
  fromMs?: number;
  toMs?: number;
}

export interface RecordingStats {
  frames: number;
  events: number;
  /** Events dropped as already published, as the stream's duplicate window dropped them live. */
  duplicates: number;
  /** Frames the adapter cannot map, and events that break their contract: dead letters live. */
  refused: number;
  /** Messages in RAW that are not feed frames of the contract. */
  malformed: number;
}

export function emptyRecordingStats(): RecordingStats {
  return { frames: 0, events: 0, duplicates: 0, refused: 0, malformed: 0 };
}

function messageName(event: FeedEvent): MessageName {
  switch (event.schema) {
    case 'trade_tick.v1':
      return 'trade_tick';
    case 'quote_tick.v1':
      return 'quote_tick';
    case 'bar.v1':
      return 'bar';
    case 'news_item.v1':
      return 'news_item';
  }
}

/** Frames of the selection in the order they were recorded (the RAW stream as it stands). */
export async function* recordedFrames(
  jetstream: JetStreamClient,
  manager: JetStreamManager,
  subjects: Subjects,
  selection: RecordingSelection,
  stats: RecordingStats = emptyRecordingStats(),
): AsyncGenerator<FeedFrame> {
  const stream = streamName('RAW', subjects.namespace);
  const filter = `${subjects.rawFrame(selection.provider, '*')}`;
  const info = await manager.streams.info(stream, { subjects_filter: filter });
  if (info.state.messages === 0) return;
  const consumer = await manager.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    filter_subject: filter,
    inactive_threshold: nanos(60_000),
    ...(selection.fromMs !== undefined
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(selection.fromMs).toISOString() }
      : { deliver_policy: DeliverPolicy.All }),
  });
  try {
    const reader = await jetstream.consumers.get(stream, consumer.name);
    for (;;) {
      // Fresh info: the cached one keeps the count at creation and the loop would never end.
      const pending = (await reader.info()).num_pending;
      if (pending === 0) return;
      const batch = await reader.fetch({ max_messages: Math.min(pending, 1_000), expires: 5_000 });
      for await (const message of batch) {
        const decoded = decodeMessage('feed_frame', message.data);
        if (!decoded.ok) {
          stats.malformed++;
          continue;
        }
        const frame = decoded.value;
        if (selection.session !== undefined && frame.session !== selection.session) continue;
        if (selection.toMs !== undefined && frame.ts_init >= selection.toMs) return;
        yield frame;
      }
    }
  } finally {
    await manager.consumers.delete(stream, consumer.name).catch(() => false);
  }
}

/** The events the live feed published for these frames, in its order. */
export async function* eventsOfFrames(
  frames: AsyncIterable<FeedFrame>,
  adapter: Pick<FeedAdapter, 'decode' | 'provider'>,
  stats: RecordingStats = emptyRecordingStats(),
): AsyncGenerator<FeedEvent> {
  const seen = new Map<string, number>();
  for await (const frame of frames) {
    if (frame.provider !== adapter.provider) continue;
    stats.frames++;
    const decoded = adapter.decode({
      // The contract holds any JSON here, as the adapter handed it over.
      payload: frame.payload as JsonValue,
      channel: frame.channel,
      receivedAt: frame.ts_init,
      origin: frame.origin,
    });
    if (!decoded.ok) {
      stats.refused++;
      continue;
    }
    for (const event of decoded.events) {
      if (!validateMessage(messageName(event), event).ok) {
        stats.refused++;
        continue;
      }
      const before = seen.get(event.id);
      if (before !== undefined && frame.ts_init - before < DUPLICATE_WINDOW_MS) {
        stats.duplicates++;
        continue;
      }
      seen.delete(event.id);
      seen.set(event.id, frame.ts_init);
      stats.events++;
      yield event;
    }
    // Ids older than the window can no longer make a duplicate: forget them, in insertion order.
    if (seen.size > 100_000) {
      for (const [id, at] of seen) {
        if (frame.ts_init - at < DUPLICATE_WINDOW_MS) break;
        seen.delete(id);
      }
    }
  }
}

/** A recorded session of `adapter`'s provider as replayable market events. */
export function recordedSessionSource(
  jetstream: JetStreamClient,
  manager: JetStreamManager,
  subjects: Subjects,
  adapter: Pick<FeedAdapter, 'decode' | 'provider'>,
  selection: Omit<RecordingSelection, 'provider'> = {},
  stats: RecordingStats = emptyRecordingStats(),
): AsyncGenerator<FeedEvent> {
  const frames = recordedFrames(
    jetstream,
    manager,
    subjects,
    { ...selection, provider: adapter.provider },
    stats,
  );
  return eventsOfFrames(frames, adapter, stats);
}
