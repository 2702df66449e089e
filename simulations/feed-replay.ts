// `sluice feed replay`: a recorded live feed session backtested. The frames the FeedActor kept in the
// RAW stream go through the same adapter's decode (sources/feed-recording.ts) and the same actors a
// backtest runs. Scored by the models the session ran with (the registry's active ones), the replay's
// ledger hash is the one the live pipeline produced; without them the config's model is trained
// walk-forward as in any backtest (what the strategy would have done on that session).
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { FeedAdapter } from '../actors/feed/adapter.ts';
import type { ModelSource } from '../actors/inference/registry.ts';
import { DEFAULT_SENTIMENT_MODEL_KEY } from '../actors/news/actor.ts';
import type { Logger } from '../core/logger.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { type BacktestModels, type BacktestSummary, runBacktest } from './backtest.ts';
import type { BacktestConfig } from './backtest-config.ts';
import {
  emptyRecordingStats,
  type RecordingSelection,
  type RecordingStats,
  recordedSessionSource,
} from './sources/feed-recording.ts';

export interface FeedReplayOptions {
  /** The session's config: its window (data.from/to, on receive time) must cover the session. */
  config: BacktestConfig;
  runId: string;
  /** Where the RAW stream is (the live namespace of `subjects`). */
  jetstream: JetStreamClient;
  manager: JetStreamManager;
  subjects: Subjects;
  /** The provider's adapter; only its decode runs. */
  adapter: Pick<FeedAdapter, 'decode' | 'provider'>;
  selection?: Omit<RecordingSelection, 'provider'>;
  /** The models the session ran with: those active for config.strategy (and news) score it. */
  models?: ModelSource;
  /** As in BacktestOptions. */
  reportDir?: string;
  sentimentDataDir?: string;
  partitions?: number;
  logger?: Logger;
}

export interface FeedReplaySummary extends BacktestSummary {
  recording: RecordingStats;
}

/** Replays one recorded session in process and returns the backtest's summary with the recording's counts. */
export async function replayRecordedSession(options: FeedReplayOptions): Promise<FeedReplaySummary> {
  const { config, models } = options;
  const recording = emptyRecordingStats();
  const summary = await runBacktest({
    config,
    runId: options.runId,
    mode: 'inprocess',
    events: recordedSessionSource(
      options.jetstream,
      options.manager,
      options.subjects,
      options.adapter,
      options.selection,
      recording,
    ),
    ...(models ? { models: await activeModels(models, config) } : {}),
    ...(options.reportDir !== undefined ? { reportDir: options.reportDir } : {}),
    ...(options.sentimentDataDir !== undefined ? { sentimentDataDir: options.sentimentDataDir } : {}),
    ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { ...summary, recording };
}

/** The models active in `models` for the config's strategy (and news, when it scores news). */
async function activeModels(models: ModelSource, config: BacktestConfig): Promise<BacktestModels> {
  const strategy = await models.active(config.strategy);
  if (strategy === undefined) throw new Error(`no model is active for strategy ${config.strategy}`);
  if (!config.news) return { source: models, strategy, sentiment: null };
  const sentiment = await models.active(DEFAULT_SENTIMENT_MODEL_KEY);
  if (sentiment === undefined) {
    throw new Error(`the config scores news but no model is active under ${DEFAULT_SENTIMENT_MODEL_KEY}`);
  }
  return { source: models, strategy, sentiment };
}
