// NATS errors recognised by their type and the JetStream API error code, never by message text
// (messages change between server and client versions; codes and classes do not). The codes are
// nats-server's (server/errors.json); @nats-io/jetstream names only a few of them.
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
// JetStreamNotEnabled is exported only here (the package's documented internal entry point).
import { jserrors } from '@nats-io/jetstream/internal';
import { ClosedConnectionError, PermissionViolationError, TimeoutError } from '@nats-io/transport-node';

/** JetStream API error codes this code acts on. */
export const ApiCodes = {
  ...JetStreamApiCodes,
  /** JSClusterNoPeersErrF: no peers to place a stream or consumer on (its text says why: offline...). */
  ClusterNoPeers: 10005,
  /** JSNotEnabledErr: JetStream is not enabled on the server. */
  JetStreamNotEnabled: 10076,
  /** JSConsumerWQMultipleUnfilteredErr: a second unfiltered consumer on a work-queue stream. */
  WorkQueueMultipleUnfiltered: 10099,
  /** JSConsumerWQConsumerNotUniqueErr: two consumers of a work-queue stream over the same subjects. */
  WorkQueueConsumerNotUnique: 10100,
  /** JSConsumerOverlappingSubjectFilters (nats-server 2.10 on). */
  OverlappingSubjectFilters: 10138,
} as const;

/**
 * `error` or the first of its causes that is a `type`: nats.js wraps what the server said (a request's
 * RequestError has the PermissionViolationError as its cause).
 */
function found<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (let at = error; at instanceof Error; at = at.cause) {
    if (at instanceof type) return at;
  }
  return undefined;
}

/** The JetStream API error code of `error`, also when it is the cause of another error. */
export function apiErrorCode(error: unknown): number | undefined {
  return found(error, JetStreamApiError)?.code;
}

/** A stream or consumer that does not exist (StreamNotFoundError, ConsumerNotFoundError). */
export function isNotFound(error: unknown): boolean {
  const code = apiErrorCode(error);
  return code === ApiCodes.StreamNotFound || code === ApiCodes.ConsumerNotFound;
}

/** A compare-and-set on a KV key that lost: the key moved on since the revision read. */
export function isWrongLastSequence(error: unknown): boolean {
  const code = apiErrorCode(error);
  return code === ApiCodes.StreamWrongLastSequence || code === ApiCodes.StreamWrongLastSequenceUnknown;
}

/**
 * A cluster that is re-forming (a node just restarted, a meta leader being elected): no peers to
 * place on yet, the request timed out, or JetStream not (yet) enabled. Worth retrying for a while.
 */
export function isTransientPlacement(error: unknown): boolean {
  // JetStreamNotEnabled: no responders on the JetStream API, or the account's JetStream not enabled.
  if (found(error, TimeoutError) || found(error, jserrors.JetStreamNotEnabled)) return true;
  const code = apiErrorCode(error);
  return (
    code === ApiCodes.ClusterNoPeers ||
    code === ApiCodes.JetStreamNotEnabled ||
    code === ApiCodes.JetStreamNotEnabledForAccount
  );
}

/** A work-queue stream refused a consumer whose subjects another consumer of it already takes. */
export function isOverlappingWorkQueueConsumer(error: unknown): boolean {
  const code = apiErrorCode(error);
  return (
    code === ApiCodes.WorkQueueMultipleUnfiltered ||
    code === ApiCodes.WorkQueueConsumerNotUnique ||
    code === ApiCodes.OverlappingSubjectFilters
  );
}

/** The connection is closed: nothing more can be sent or pulled on it. */
export function isConnectionClosed(error: unknown): boolean {
  return found(error, ClosedConnectionError) !== undefined;
}

/** The server refused a publish or subscription for this user's permissions. */
export function isPermissionViolation(error: unknown): boolean {
  return found(error, PermissionViolationError) !== undefined;
}

/** Whether the stream exists (false on StreamNotFound; other errors are thrown). */
export async function streamExists(manager: JetStreamManager, name: string): Promise<boolean> {
  try {
    await manager.streams.info(name);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
