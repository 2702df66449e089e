// `sluice worker`: pulls sweep and walk-forward jobs from the SWEEP_JOBS work-queue stream, one at a time,
// until --max-jobs, --idle-exit or SIGTERM / SIGINT (which drain: the job in hand is finished and acked).
// A malformed job goes to DEADLETTER (bootstrapped with the other streams) with the reason.
import type { Command } from 'commander';
import type { FeedAdapter } from '../../actors/feed/adapter.ts';
import { createFeedAdapter, parseFeedProvider } from '../../actors/feed/adapters/index.ts';
import { WallClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { backtestJobRunner } from '../../simulations/backtest-job.ts';
import { feedBackfillJobRunner } from '../../simulations/feed-backfill-job.ts';
import { researchJobRunners } from '../../simulations/sweep-jobs.ts';
import {
  applySweepTopology,
  checkSweepId,
  runWorker,
  type SweepJobRunner,
  sweepRegistry,
  type WorkerSummary,
} from '../../simulations/sweep-queue.ts';
import { connectBus } from '../services.ts';

/** The kinds every `sluice worker` knows: the pipeline `backtest` and the research kinds. */
export const defaultJobRunners: readonly SweepJobRunner[] = [backtestJobRunner, ...researchJobRunners];

export interface WorkerCommandOptions {
  sweep?: string;
  maxJobs?: number;
  idleExitMs?: number;
  ackWaitMs?: number;
  /** Job kinds beyond the default ones. */
  runners?: readonly SweepJobRunner[];
  /**
   * Feed adapters by provider: with it the worker also runs `feed_backfill` jobs (gap catch-ups) and
   * publishes what they read to MARKET. The adapter registry's createFeedAdapter in production.
   */
  createFeedAdapter?: (provider: string) => Promise<FeedAdapter>;
}

/** Connects, ensures the sweep streams and consumer, and works until a stop condition. */
export async function workerMain(options: WorkerCommandOptions): Promise<WorkerSummary> {
  const bus = await connectBus('sluice-worker', 'none');
  const workerId = `${process.env.HOSTNAME ?? 'host'}:${process.pid}`;
  const logger = createLogger({ actor: `worker-${workerId}` });
  const drain = new AbortController();
  const stop = () => drain.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const topology = {
      replicas: bus.environment.streamReplicas,
      ...(options.ackWaitMs !== undefined ? { ackWaitMs: options.ackWaitMs } : {}),
      ...(options.sweep !== undefined ? { sweep: options.sweep } : {}),
    };
    await applySweepTopology(bus.manager, topology);
    logger.info({ sweep: options.sweep ?? '*' }, 'worker ready');
    const feedRunners = options.createFeedAdapter
      ? [
          feedBackfillJobRunner({
            jetstream: bus.jetstream,
            subjects: bus.subjects,
            createAdapter: options.createFeedAdapter,
          }),
        ]
      : [];
    return await runWorker({
      js: bus.jetstream,
      manager: bus.manager,
      subjects: bus.subjects,
      registry: sweepRegistry([...defaultJobRunners, ...feedRunners, ...(options.runners ?? [])]),
      workerId,
      signal: drain.signal,
      logger,
      ...(topology.ackWaitMs !== undefined ? { ackWaitMs: topology.ackWaitMs } : {}),
      ...(options.sweep !== undefined ? { sweep: options.sweep } : {}),
      ...(options.maxJobs !== undefined ? { maxJobs: options.maxJobs } : {}),
      ...(options.idleExitMs !== undefined ? { idleExitMs: options.idleExitMs } : {}),
    });
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    await bus.connection.drain();
  }
}

function positiveInteger(flag: string) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1)
      throw new ConfigError(flag, `must be a positive integer, got "${raw}"`, `e.g. ${flag} 10`);
    return value;
  };
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('run sweep and walk-forward jobs from the SWEEP_JOBS work-queue stream, one at a time')
    .option(
      '--sweep <id>',
      'only this sweep, through its own consumer (do not mix with workers without --sweep)',
    )
    .option('--max-jobs <n>', 'exit after this many jobs', positiveInteger('--max-jobs'))
    .option(
      '--idle-exit <seconds>',
      'exit once no job has arrived for this long',
      positiveInteger('--idle-exit'),
    )
    .option('--json', 'print the summary as one JSON object')
    .action(async (options: { sweep?: string; maxJobs?: number; idleExit?: number; json?: boolean }) => {
      if (options.sweep !== undefined) {
        try {
          checkSweepId(options.sweep);
        } catch (error) {
          throw new ConfigError('--sweep', (error as Error).message, 'e.g. --sweep ma-grid-1');
        }
      }
      const summary = await workerMain({
        // feed_backfill jobs (`sluice feed check --submit-backfills`) read the provider's REST API.
        createFeedAdapter: (provider) =>
          createFeedAdapter(parseFeedProvider(provider, 'provider'), { clock: new WallClock() }),
        ...(options.sweep !== undefined ? { sweep: options.sweep } : {}),
        ...(options.maxJobs !== undefined ? { maxJobs: options.maxJobs } : {}),
        ...(options.idleExit !== undefined ? { idleExitMs: options.idleExit * 1000 } : {}),
      });
      if (options.json) console.log(JSON.stringify(summary));
      else
        console.log(
          `worker ${summary.worker}: ${summary.processed} jobs (${summary.failed} failed, ${summary.retried} retries), stopped by ${summary.stoppedBy}`,
        );
    });
}
