// Catch-up of feed gaps as jobs on the sweep work queue (the seeds' "smart catch-up": detect gaps, then
// fill them). A gap found by `sluice feed check` (or any caller of the integrity functions) becomes a
// `feed_backfill` job in SWEEP_JOBS under the sweep `feed-backfill`; its id is a digest of (kind,
// params), so the same gap submitted twice inside the queue's duplicate window (24 h) is one job. Any
// `sluice worker` runs it: it asks the provider's adapter for the span over REST and publishes what
// comes back exactly as the FeedActor would (same ids, so events the stream already holds are dropped
// as duplicates); a frame that cannot be mapped or an event that breaks its contract is dead-lettered.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { FeedAdapter } from '../actors/feed/adapter.ts';
import type { FeedGap } from '../actors/feed/integrity.ts';
import { feedSubject, publishFeedEvent } from '../actors/feed/publish.ts';
import { ConfigError } from '../core/errors.ts';
import { decodeFeedBackfillParams, type FeedBackfillParams, type SweepJob } from '../schemas/jobs.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { sendToDeadLetter } from '../streams/dead-letter.ts';
import { EventPublisher, InvalidMessageError } from '../streams/publisher.ts';
import { type SweepJobRunner, submitSweep, sweepJob } from './sweep-queue.ts';

export const FEED_BACKFILL_SWEEP = 'feed-backfill';
export const FEED_BACKFILL_KIND = 'feed_backfill';

/** The job that fills `gap` from `provider`: the same gap always gives the same job id. */
export function feedBackfillJob(
  provider: string,
  gap: Pick<FeedGap, 'symbol' | 'channel' | 'fromMs' | 'toMs'>,
): SweepJob {
  const params: FeedBackfillParams = {
    provider,
    symbol: gap.symbol,
    channel: gap.channel,
    fromMs: gap.fromMs,
    toMs: gap.toMs,
  };
  const checked = decodeFeedBackfillParams(params);
  if (!checked.ok) throw new RangeError(checked.reason);
  return sweepJob(FEED_BACKFILL_SWEEP, FEED_BACKFILL_KIND, params);
}

/** Submits one job per gap; gaps already submitted inside the duplicate window count as duplicates. */
export function submitFeedBackfills(
  jetstream: JetStreamClient,
  provider: string,
  gaps: readonly Pick<FeedGap, 'symbol' | 'channel' | 'fromMs' | 'toMs'>[],
): Promise<{ published: number; duplicates: number }> {
  return submitSweep(
    jetstream,
    gaps.map((gap) => feedBackfillJob(provider, gap)),
  );
}

export interface FeedBackfillRunnerOptions {
  jetstream: JetStreamClient;
  subjects: Subjects;
  /**
   * The adapter of a provider: in `sluice worker` the adapter registry's createFeedAdapter
   * (actors/feed/adapters/index.ts) with the worker's wall clock and environment (credentials).
   */
  createAdapter: (provider: string) => Promise<FeedAdapter>;
}

/** What one backfill job did, stored as its result's details. */
export interface FeedBackfillDetails {
  [key: string]: number;
  frames: number;
  published: number;
  duplicates: number;
  rejected: number;
}

/** The `feed_backfill` kind for the worker's registry. */
export function feedBackfillJobRunner(options: FeedBackfillRunnerOptions): SweepJobRunner {
  return {
    kind: FEED_BACKFILL_KIND,
    async run(params) {
      const checked = decodeFeedBackfillParams(params);
      // Bad parameters cannot get better by retrying: the worker stores the failure at once.
      if (!checked.ok)
        throw new ConfigError('params', checked.reason, 'submit gaps with submitFeedBackfills');
      const details = await backfillSpan(options, checked.value);
      return { metrics: null, details };
    },
  };
}

async function backfillSpan(
  options: FeedBackfillRunnerOptions,
  params: FeedBackfillParams,
): Promise<FeedBackfillDetails> {
  const { jetstream, subjects } = options;
  const adapter = await options.createAdapter(params.provider);
  const events = new EventPublisher(jetstream);
  // Dead letters apart, so `events.stats` counts events only.
  const letters = new EventPublisher(jetstream);
  let frames = 0;
  let rejected = 0;
  const consumer = `feed-backfill:${params.provider}`;
  try {
    for await (const frame of adapter.backfill({ ...params })) {
      const sequence = frames++;
      const decoded = adapter.decode(frame);
      const letter = (originalSubject: string, reason: string) => {
        rejected++;
        return sendToDeadLetter(letters, subjects, {
          originalSubject,
          reason: `backfill frame ${sequence}: ${reason}`,
          consumer,
          payload: JSON.stringify(frame.payload) ?? 'undefined',
          receivedAt: frame.receivedAt,
          sourceRow: sequence,
        });
      };
      if (!decoded.ok) {
        await letter(subjects.rawFrame(adapter.provider, frame.channel), decoded.reason);
        continue;
      }
      for (const event of decoded.events) {
        const subject = feedSubject(subjects, event);
        try {
          await publishFeedEvent(events, subject, event);
        } catch (error) {
          if (!(error instanceof InvalidMessageError)) throw error;
          await letter(subject, error.reason);
        }
      }
    }
    const stats = await events.flush();
    await letters.flush();
    return { frames, published: stats.published, duplicates: stats.duplicates, rejected };
  } finally {
    await adapter.close();
  }
}
