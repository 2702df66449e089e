// The FeedActor lifecycle (connecting -> authenticating -> subscribing -> streaming <-> reconnecting,
// backfilling, stale, stopped) and its pure core: the reconnect backoff and the cursors the gap
// backfill starts from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor } from 'xstate';
import type { FeedEvent } from '../../actors/feed/adapter.ts';
import { DEFAULT_RECONNECT, FeedCursors, FifoQueue, reconnectDelayMs } from '../../actors/feed/core.ts';
import { feedLifecycleMachine } from '../../actors/feed/machine.ts';
import { SeededRandom } from '../../core/random.ts';

test('machine: a session, a lost connection, the gap backfilled, a silence caught up', () => {
  const actor = createActor(feedLifecycleMachine).start();
  const state = () => actor.getSnapshot().value;
  assert.equal(state(), 'connecting');
  actor.send({ type: 'CONNECTED' });
  assert.equal(state(), 'authenticating');
  actor.send({ type: 'AUTHENTICATED' });
  assert.equal(state(), 'subscribing');
  actor.send({ type: 'SUBSCRIBED', gap: false });
  assert.equal(state(), 'streaming', 'the first session has no gap to read');
  actor.send({ type: 'CONNECTION_LOST', reason: 'socket closed' });
  assert.equal(state(), 'reconnecting');
  assert.deepEqual(actor.getSnapshot().context, { lastError: 'socket closed', disconnects: 1 });
  actor.send({ type: 'CONNECTED' });
  assert.equal(state(), 'reconnecting', 'only RETRY leaves reconnecting');
  actor.send({ type: 'RETRY' });
  actor.send({ type: 'CONNECTED' });
  actor.send({ type: 'AUTHENTICATED' });
  actor.send({ type: 'SUBSCRIBED', gap: true });
  assert.equal(state(), 'backfilling');
  actor.send({ type: 'SILENT' });
  assert.equal(state(), 'backfilling', 'no silence while the gap is read');
  actor.send({ type: 'BACKFILLED' });
  assert.equal(state(), 'streaming');
  actor.send({ type: 'SILENT' });
  assert.equal(state(), 'stale');
  actor.send({ type: 'FRAME' });
  assert.equal(state(), 'streaming', 'a frame ends the silence');
  actor.send({ type: 'SILENT' });
  actor.send({ type: 'CATCH_UP' });
  assert.equal(state(), 'backfilling');
  actor.send({ type: 'CONNECTION_LOST', reason: 'reset during catch-up' });
  assert.equal(state(), 'reconnecting');
  actor.send({ type: 'STOP' });
  assert.equal(state(), 'stopped');
  assert.equal(actor.getSnapshot().status, 'done');
});

test('machine: refused credentials or subscription stop it for good; a failed connect retries', () => {
  for (const at of ['authenticating', 'subscribing'] as const) {
    const actor = createActor(feedLifecycleMachine).start();
    actor.send({ type: 'CONNECTED' });
    if (at === 'subscribing') actor.send({ type: 'AUTHENTICATED' });
    actor.send({ type: 'REFUSED', reason: 'auth failed' });
    assert.equal(actor.getSnapshot().value, 'stopped');
    assert.equal(actor.getSnapshot().context.lastError, 'auth failed');
  }
  const actor = createActor(feedLifecycleMachine).start();
  actor.send({ type: 'CONNECTION_LOST', reason: 'ECONNREFUSED' });
  assert.equal(actor.getSnapshot().value, 'reconnecting');
  actor.send({ type: 'REFUSED', reason: 'late' });
  assert.equal(actor.getSnapshot().value, 'reconnecting', 'a refusal needs a connection');
});

test('backoff: doubles from the initial delay up to the cap, jittered within the upper half', () => {
  const random = new SeededRandom(7);
  const policy = { initialDelayMs: 100, maxDelayMs: 5_000 };
  for (let attempt = 0; attempt < 40; attempt++) {
    const capped = Math.min(5_000, 100 * 2 ** attempt);
    const delay = reconnectDelayMs(attempt, policy, random);
    assert.ok(delay >= capped / 2 && delay <= capped, `attempt ${attempt}: ${delay} of ${capped}`);
  }
  const first = Array.from({ length: 5 }, (_, attempt) =>
    reconnectDelayMs(attempt, DEFAULT_RECONNECT, new SeededRandom(1)),
  );
  const again = Array.from({ length: 5 }, (_, attempt) =>
    reconnectDelayMs(attempt, DEFAULT_RECONNECT, new SeededRandom(1)),
  );
  assert.deepEqual(first, again, 'the same seed gives the same delays');
});

const trade = (symbol: string, tsEvent: number, tradeId: string): FeedEvent => ({
  schema: 'trade_tick.v1',
  id: `ccxt:binance:trade:${symbol}:${tradeId}`,
  ts_event: tsEvent,
  ts_init: tsEvent,
  symbol,
  price: 1,
  size: 1,
  aggressor: 'buy',
  trade_id: tradeId,
});

test('cursors: each symbol and channel from its last event; out of order never moves one back', () => {
  const cursors = new FeedCursors();
  cursors.advance(trade('BTC/USDT', 1_000, '10'));
  cursors.advance(trade('BTC/USDT', 2_000, '12'));
  cursors.advance(trade('BTC/USDT', 1_500, '11'));
  cursors.advance({
    schema: 'bar.v1',
    id: 'alpaca:bar:SPY:0',
    ts_event: 60_000,
    ts_init: 60_000,
    symbol: 'SPY',
    interval: '1m',
    open: 1,
    high: 1,
    low: 1,
    close: 1,
    volume: 1,
  });
  assert.deepEqual(
    cursors.backfillRequests((symbol) => (symbol === 'SPY' ? 120_000 : 9_000)),
    [
      { symbol: 'BTC/USDT', channel: 'trades', fromMs: 2_000, afterId: '12', toMs: 9_000 },
      { symbol: 'SPY', channel: 'bars', fromMs: 60_000, toMs: 120_000 },
    ],
  );
});

test('queue: first in first out across its compaction, with frames put back ahead', () => {
  const queue = new FifoQueue<number>();
  for (let item = 0; item < 3_000; item++) queue.push(item);
  const taken: number[] = [];
  for (let index = 0; index < 2_000; index++) taken.push(queue.shift() ?? -1);
  assert.deepEqual(
    taken,
    Array.from({ length: 2_000 }, (_, index) => index),
  );
  assert.equal(queue.size, 1_000);
  queue.unshiftAll([-2, -1]);
  assert.equal(queue.shift(), -2);
  assert.equal(queue.shift(), -1);
  assert.equal(queue.shift(), 2_000);
  queue.clear();
  assert.equal(queue.size, 0);
  assert.equal(queue.shift(), undefined);
});
