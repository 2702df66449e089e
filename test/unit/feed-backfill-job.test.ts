// feed_backfill jobs: one id per gap (submitted twice, run once), and params that break the contract
// refused with the field named, whatever a submitter sends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JetStreamClient } from '@nats-io/jetstream';
import { ConfigError } from '../../core/errors.ts';
import { decodeFeedBackfillParams } from '../../schemas/jobs.ts';
import { Subjects } from '../../schemas/subjects.ts';
import {
  FEED_BACKFILL_KIND,
  feedBackfillJob,
  feedBackfillJobRunner,
} from '../../simulations/feed-backfill-job.ts';

const gap = { symbol: 'SPY', channel: 'bars', fromMs: 1_295_362_800_000, toMs: 1_295_363_400_000 } as const;

describe('feed_backfill jobs', () => {
  it('gives the same gap the same id, and another gap or provider another', () => {
    const job = feedBackfillJob('alpaca', gap);
    assert.equal(job.kind, FEED_BACKFILL_KIND);
    assert.match(job.id, /^feed-backfill\.[0-9a-f]{16}$/);
    assert.equal(feedBackfillJob('alpaca', { ...gap }).id, job.id);
    assert.notEqual(feedBackfillJob('alpaca', { ...gap, toMs: gap.toMs + 60_000 }).id, job.id);
    assert.notEqual(feedBackfillJob('polygon', gap).id, job.id);
    assert.deepEqual(job.params, { provider: 'alpaca', ...gap });
  });

  it('refuses hostile params with the field named', () => {
    const good = { provider: 'ccxt:binance', symbol: 'BTC/USDT', channel: 'trades', fromMs: 1, toMs: 2 };
    assert.ok(decodeFeedBackfillParams(good).ok);
    const cases: [unknown, RegExp][] = [
      [null, /\(root\)/],
      [{ ...good, provider: 'ftp' }, /\/provider/],
      [{ ...good, provider: `ccxt:${'a'.repeat(100)}` }, /\/provider/],
      [{ ...good, channel: 'orders' }, /\/channel/],
      [{ ...good, symbol: '' }, /\/symbol/],
      [{ ...good, fromMs: -1 }, /\/fromMs/],
      [{ ...good, fromMs: 1.5 }, /\/fromMs/],
      [{ ...good, toMs: Number.NaN }, /\/toMs/],
      [{ ...good, toMs: 1 }, /\/toMs: must be after fromMs/],
      [{ ...good, extra: true }, /feed_backfill/],
      [{ provider: 'alpaca' }, /feed_backfill/],
    ];
    for (const [params, reason] of cases) {
      const decoded = decodeFeedBackfillParams(params);
      assert.equal(decoded.ok, false, JSON.stringify(params));
      if (!decoded.ok) assert.match(decoded.reason, reason);
    }
    assert.throws(() => feedBackfillJob('alpaca', { ...gap, toMs: gap.fromMs }), RangeError);
  });

  it('fails a job with bad params as a ConfigError, before any adapter is made', async () => {
    let made = 0;
    const runner = feedBackfillJobRunner({
      jetstream: {} as JetStreamClient,
      subjects: new Subjects(4),
      createAdapter: async () => {
        made++;
        throw new Error('not reached');
      },
    });
    await assert.rejects(runner.run({ provider: 'alpaca', symbol: 'SPY' }), ConfigError);
    assert.equal(made, 0);
  });
});
