// Poison messages are copied, with the reason and the original subject, to the DEADLETTER stream
// before they are terminated, so nothing is lost and an operator can inspect or replay them.
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

export function deadLetterId(
  input: Pick<DeadLetterInput, 'consumer' | 'streamSequence' | 'sourceRow'>,
): string {
  const position = input.streamSequence ?? input.sourceRow ?? 0;
  return `dlq:${input.consumer}:${position}`;
}

export function buildDeadLetter(input: DeadLetterInput): DeadLetter {
  return {
    schema: 'dead_letter.v1',
    id: deadLetterId(input),
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
}

/** Publishes a dead letter and waits for the stream to hold it. */
export async function sendToDeadLetter(
  publisher: EventPublisher,
  subjects: Subjects,
  input: DeadLetterInput,
): Promise<void> {
  const letter = buildDeadLetter(input);
  await publisher.publish('dead_letter', subjects.deadLetter(input.originalSubject), letter);
  await publisher.flush();
}
