// Poison messages are copied, with the reason and the original subject, to the DEADLETTER stream
// before they are terminated, so nothing is lost and an operator can inspect or replay them. A letter
// that would not fit the server's max_payload (a 900 KB message grows as JSON text) carries its payload
// cut short, with the original's size and SHA-256: a dead letter that cannot be stored would block the
// consumer behind it.
import { createHash } from 'node:crypto';
import { deadLetterIdFor } from '../core/lineage-ids.ts';
import type { DeadLetter } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { EventPublisher } from './publisher.ts';

export interface DeadLetterInput {
  originalSubject: string;
  reason: string;
  /** Who gave up on it: a consumer name or `ingest:<dataset>`. */
  consumer: string;
  payload: Uint8Array | string;
  /** When the message was received, epoch ms (stream timestamp or ingest time). */
  receivedAt: number;
  streamSequence?: number;
  deliveryCount?: number;
  sourceRow?: number;
}

const textDecoder = new TextDecoder();

/**
 * Room left in a NATS message for what is not the letter's JSON: the Nats-Msg-Id header and the
 * protocol's framing count against max_payload too.
 */
const HEADER_ROOM_BYTES = 1024;

/**
 * The letter for `input`. Given `maxBytes` (the server's max_payload), a letter whose JSON would not
 * fit keeps as much of the payload's start as fits, and says so (payload_truncated, payload_bytes,
 * payload_sha256 of the original bytes).
 */
export function buildDeadLetter(input: DeadLetterInput, maxBytes = Number.POSITIVE_INFINITY): DeadLetter {
  const letter: DeadLetter = {
    schema: 'dead_letter.v1',
    id: deadLetterIdFor(input.consumer, input.streamSequence ?? input.sourceRow ?? 0),
    ts_event: input.receivedAt,
    ts_init: input.receivedAt,
    original_subject: input.originalSubject,
    reason: input.reason.slice(0, 2000),
    consumer: input.consumer,
    payload: typeof input.payload === 'string' ? input.payload : textDecoder.decode(input.payload),
    ...(input.streamSequence !== undefined ? { stream_sequence: input.streamSequence } : {}),
    ...(input.deliveryCount !== undefined ? { delivery_count: input.deliveryCount } : {}),
    ...(input.sourceRow !== undefined ? { source_row: input.sourceRow } : {}),
  };
  const limit = maxBytes - HEADER_ROOM_BYTES;
  if (jsonBytes(letter) <= limit) return letter;
  const original = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload;
  const cut: DeadLetter = {
    ...letter,
    payload: '',
    payload_truncated: true,
    payload_bytes: original.length,
    payload_sha256: createHash('sha256').update(original).digest('hex'),
  };
  const fixed = jsonBytes(cut);
  const room = limit - fixed;
  // As JSON text a byte can take up to six (a control byte as \u00XX, an invalid one as U+FFFD in three):
  // scale the cut by how far the last try overshot until it fits.
  let keep = Math.max(0, Math.min(original.length, room));
  for (;;) {
    cut.payload = textDecoder.decode(original.subarray(0, keep));
    const payloadBytes = jsonBytes(cut) - fixed;
    if (payloadBytes <= room || keep === 0) return cut;
    keep = Math.max(0, Math.min(keep - 1, Math.floor((keep * room) / payloadBytes)));
  }
}

function jsonBytes(letter: DeadLetter): number {
  return Buffer.byteLength(JSON.stringify(letter));
}

/** Publishes a dead letter (cut to the server's max_payload) and waits for the stream to hold it. */
export async function sendToDeadLetter(
  publisher: EventPublisher,
  subjects: Subjects,
  input: DeadLetterInput,
): Promise<void> {
  const letter = buildDeadLetter(input, publisher.maxPayload);
  await publisher.publish('dead_letter', subjects.deadLetter(input.originalSubject), letter);
  await publisher.flush();
}
