// Every id an event derives from the event that caused it, in one place. A source event's id comes
// from its source (a data set's row, a venue's trade id, an operator's command); everything after it
// is named after its cause, so a replay or a redelivery makes the same ids (the streams drop the
// copies by Nats-Msg-Id) and an id says where its event came from:
//
//   bar ─▶ feature vector ─▶ signal ─▶ risk decision, order intent ─▶ order ─▶ order events, fills
//   news ─▶ sentiment score          fill ─▶ portfolio snapshot      order ─▶ cancel command
//   operator command ─▶ reply, flatten signals      message ─▶ dead letter ─▶ rate alert
//   bracket entry order ─▶ its take-profit and stop-loss children, its time exit intent
//
// The backtest ledger hashes these ids byte for byte: changing a rule here changes every ledger hash.

import { createHash } from 'node:crypto';

export function featureVectorIdFor(barId: string, featureSet: string): string {
  return `${barId}:feat:${featureSet}`;
}

export function signalIdFor(strategy: string, featureVectorId: string): string {
  return `sig:${strategy}:${featureVectorId}`;
}

export function sentimentIdFor(newsId: string, modelId: string): string {
  return `sent:${newsId}:${modelId}`;
}

/** A signal decided again (a redelivery) gets a decision of its own, so the first one is kept. */
export function decisionIdFor(signalId: string, duplicate = false): string {
  return duplicate ? `${signalId}:decision:duplicate` : `${signalId}:decision`;
}

export function intentIdFor(signalId: string): string {
  return `${signalId}:intent`;
}

/** One intent is one order, so a resubmitted intent finds its order. */
export function orderIdFor(intentId: string): string {
  return `${intentId}:order`;
}

/** The `sequence`-th event (1, 2, …) the venue reported for the order. */
export function orderEventIdFor(orderId: string, sequence: number): string {
  return `${orderId}:event:${sequence}`;
}

/** The `sequence`-th fill (1, 2, …) of the order. */
export function fillIdFor(orderId: string, sequence: number): string {
  return `${orderId}:fill:${sequence}`;
}

/**
 * The id a broker knows the order by (its client order id): short and of letters, digits and '-',
 * because venues limit it (Binance to 36 characters, Alpaca to 128), and a pure function of the
 * order id, so a resubmission after a crash asks the venue for the same order instead of placing
 * another.
 */
export function clientOrderIdFor(orderId: string): string {
  return `sl-${createHash('sha256').update(orderId).digest('hex').slice(0, 32)}`;
}

/** A child of a bracket order: its take-profit or stop-loss exit. */
export function bracketChildIdFor(orderId: string, leg: 'take_profit' | 'stop_loss'): string {
  return `${orderId}:${leg}`;
}

/** The risk gate's closing order for a bracket entry whose time limit (its exit_after) passed. */
export function timeExitIntentIdFor(entryOrderId: string): string {
  return `${entryOrderId}:time_exit`;
}

/** A fill a broker reported, named by the broker's execution id: reported twice, it keeps one id. */
export function venueFillIdFor(orderId: string, venueFillId: string): string {
  return `${orderId}:fill:venue:${venueFillId}`;
}

/** A broker's report of an order state: the same state reported twice keeps one id. */
export function venueOrderEventIdFor(orderId: string, status: string, filledQuantity: number): string {
  return `${orderId}:event:${status}:${filledQuantity}`;
}

/**
 * The intent an order Sluice did not place stands under once adopted (an order placed by hand at the
 * venue): named by the venue's order id, so its order id is orderIdFor(this) and a re-read adopts it
 * under the same ids.
 */
export function adoptedIntentIdFor(venue: string, venueOrderId: string): string {
  return `venue:${venue}:${venueOrderId}`;
}

/**
 * One step (begun, or its outcome) of the `sequence`-th reconciliation with `venue` (the simulated
 * venue's: its event time), which no earlier one shares even within a millisecond or across a restart.
 */
export function reconciliationIdFor(
  venue: string,
  sequence: number,
  trigger: string,
  outcome: string,
): string {
  return `reconcile:${venue}:${sequence}:${trigger}:${outcome}`;
}

/** The risk gate's cancel of a working order. */
export function cancelIdFor(orderId: string): string {
  return `${orderId}:cancel`;
}

/** The account's state at `ts`, after its last fill (`none` before any). */
export function portfolioSnapshotIdFor(account: string, ts: number, lastFillId: string | undefined): string {
  return `portfolio:${account}:${ts}:${lastFillId ?? 'none'}`;
}

export function replyIdFor(commandId: string): string {
  return `${commandId}:reply`;
}

/** The closing signal an operator's flatten command sends for one symbol. */
export function flattenSignalIdFor(commandId: string, symbol: string): string {
  return `${commandId}:${symbol}`;
}

/** A message given up by `consumer` at `position` (its stream sequence, or its row in a file). */
export function deadLetterIdFor(consumer: string, position: number): string {
  return `dlq:${consumer}:${position}`;
}

/** The alert `key` (its code, and a partition where it has one) that the event `causeId` set off. */
export function alertIdFor(causeId: string, key: string): string {
  return `${causeId}:alert:${key}`;
}
