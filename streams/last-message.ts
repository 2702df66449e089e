// The last message stored on a subject (JetStream's get by subject), for an actor that must know the
// latest state at start, before its durable consumers deliver anything new: the latest prices, the
// portfolio's latest snapshot, the venue's latest reconciliation.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { MessageName, MessageOf, PortfolioSnapshot, Reconciliation } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { decodeOneOf } from '../schemas/validate.ts';
import { streamName } from './topology.ts';

/**
 * Undefined when the subject holds nothing, or its last message is none of `names` (a reader that
 * fails closed waits for the next one then).
 */
export async function lastStoredMessage<N extends MessageName>(
  manager: JetStreamManager,
  stream: string,
  subject: string,
  names: readonly N[],
): Promise<MessageOf<N> | undefined> {
  const stored = await manager.streams.getMessage(stream, { last_by_subj: subject });
  if (stored === null) return undefined;
  const decoded = decodeOneOf(names, stored.data);
  return decoded.ok ? decoded.value : undefined;
}

/** The account's last pf.snapshot in the ORDERS stream: the portfolio's public state. */
export function lastPortfolioSnapshotFromStream(
  manager: JetStreamManager,
  subjects: Subjects,
  account: string,
): () => Promise<PortfolioSnapshot | undefined> {
  const stream = streamName('ORDERS', subjects.namespace);
  return () => lastStoredMessage(manager, stream, subjects.portfolio(account), ['portfolio_snapshot']);
}

/** The venue's last reconciliation (exec.reconcile.<venue>) in the ORDERS stream. */
export function lastReconciliationFromStream(
  manager: JetStreamManager,
  subjects: Subjects,
  venue: string,
): () => Promise<Reconciliation | undefined> {
  const stream = streamName('ORDERS', subjects.namespace);
  return () => lastStoredMessage(manager, stream, subjects.reconciliation(venue), ['reconciliation']);
}
