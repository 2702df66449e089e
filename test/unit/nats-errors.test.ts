// NATS errors are told apart by class and JetStream API code (streams/nats-errors.ts), never by their
// message: an error whose text merely reads like one is not taken for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JetStreamApiError } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';
import {
  ClosedConnectionError,
  DrainingConnectionError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import {
  ApiCodes,
  apiErrorCode,
  isConnectionClosed,
  isNotFound,
  isOverlappingWorkQueueConsumer,
  isPermissionViolation,
  isTransientPlacement,
  isWrongLastSequence,
} from '../../streams/nats-errors.ts';

const api = (err_code: number, description: string, code = 400) =>
  new JetStreamApiError({ code, err_code, description });

describe('NATS errors by type and code', () => {
  it('not found: a missing stream or consumer, by code, also as the cause of another error', () => {
    assert.ok(isNotFound(new jserrors.StreamNotFoundError({ code: 404, err_code: 10059, description: 'x' })));
    assert.ok(isNotFound(api(ApiCodes.ConsumerNotFound, 'consumer not found', 404)));
    assert.ok(isNotFound(new Error('wrapped', { cause: api(ApiCodes.StreamNotFound, 'stream not found') })));
    assert.equal(apiErrorCode(new Error('no cause')), undefined);
    assert.ok(!isNotFound(new Error('stream not found')), 'a message alone is not the error');
    assert.ok(!isNotFound(api(ApiCodes.NoMessageFound, 'no message found', 404)));
  });

  it('a KV compare-and-set that lost', () => {
    assert.ok(isWrongLastSequence(api(ApiCodes.StreamWrongLastSequence, 'wrong last sequence: 7')));
    assert.ok(isWrongLastSequence(api(ApiCodes.StreamWrongLastSequenceUnknown, 'wrong last sequence')));
    assert.ok(!isWrongLastSequence(new Error('wrong last sequence: 7')));
  });

  it('transient placement: no peers (offline or not), a timeout, JetStream not enabled yet', () => {
    assert.ok(
      isTransientPlacement(api(ApiCodes.ClusterNoPeers, 'no suitable peers for placement, peer offline')),
    );
    assert.ok(isTransientPlacement(new TimeoutError()));
    assert.ok(isTransientPlacement(new jserrors.JetStreamNotEnabled('jetstream is not enabled')));
    assert.ok(isTransientPlacement(api(ApiCodes.JetStreamNotEnabled, 'JetStream not enabled', 503)));
    assert.ok(
      isTransientPlacement(
        api(ApiCodes.JetStreamNotEnabledForAccount, 'JetStream not enabled for account', 503),
      ),
    );
    assert.ok(!isTransientPlacement(api(ApiCodes.StreamNotFound, 'stream not found', 404)));
    assert.ok(!isTransientPlacement(new Error('timeout')));
  });

  it('work-queue consumers over the same subjects', () => {
    assert.ok(
      isOverlappingWorkQueueConsumer(
        api(ApiCodes.WorkQueueConsumerNotUnique, 'filtered consumer not unique on workqueue stream'),
      ),
    );
    assert.ok(
      isOverlappingWorkQueueConsumer(
        api(
          ApiCodes.WorkQueueMultipleUnfiltered,
          'multiple non-filtered consumers not allowed on workqueue stream',
        ),
      ),
    );
    assert.ok(
      isOverlappingWorkQueueConsumer(
        api(ApiCodes.OverlappingSubjectFilters, 'consumer subject filters cannot overlap'),
      ),
    );
    assert.ok(!isOverlappingWorkQueueConsumer(new Error('filtered consumer not unique on workqueue stream')));
  });

  it('a closed connection and a permissions violation, by class', () => {
    assert.ok(isConnectionClosed(new ClosedConnectionError()));
    assert.ok(!isConnectionClosed(new DrainingConnectionError()));
    assert.ok(!isConnectionClosed(new Error('closed connection')));
    assert.ok(
      isPermissionViolation(
        new PermissionViolationError(
          'Permissions Violation for Publish to "$JS.API.STREAM.CREATE.X"',
          'publish',
          '$JS.API.STREAM.CREATE.X',
        ),
      ),
    );
    assert.ok(!isPermissionViolation(new Error('permissions violation')));
    // A request's error: nats.js wraps what the server said.
    const refused = new PermissionViolationError(
      'Permissions Violation for Publish to "$JS.API.STREAM.CREATE.MARKET"',
      'publish',
      '$JS.API.STREAM.CREATE.MARKET',
    );
    assert.ok(isPermissionViolation(new RequestError(refused.message, { cause: refused })));
  });
});
