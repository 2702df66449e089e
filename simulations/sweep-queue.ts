// Parameter sweeps and walk-forward folds as jobs on a JetStream work-queue stream, so any number of
// `sluice worker` processes on any machines share them.
//
// - Jobs go to `sweep.job.<sweep>` in SWEEP_JOBS (work-queue retention: an acked job is gone), published
//   with Nats-Msg-Id = job id, so submitting the same sweep again inside the duplicate window adds nothing.
// - Results go to `sweep.result.<sweep>` in SWEEP_RESULTS (limits retention) with Nats-Msg-Id =
//   `result.<job id>`: a job re-run after a crash between publish and ack stores one result, not two.
// - Workers share one durable pull consumer, run by the consumer runner (streams/consumer-runner.ts) one job
//   at a time. A job is acked only after its result is stored, so a worker that dies mid-job loses nothing:
//   the server re-delivers after ack_wait. While a job runs the runner sends "working" every ackWait / 3 so
//   long jobs are not re-delivered while alive.
// - A job is checked against its contract (sweep_job.v1, schemas/jobs.ts); one that breaks it is
//   dead-lettered with the reason (DEADLETTER, as every consumer does) and never run.
// - A job that throws is nak'ed with backoff and retried; on its maxDeliver-th delivery the failure itself
//   is stored as the result, so the aggregate table shows it instead of a silent gap. A ConfigError (bad
//   parameters) cannot get better by retrying: its failure is stored on the first delivery.
// - Work-queue streams refuse overlapping consumers: workers either all use the shared consumer for every
//   sweep (`sweep-workers`, filter `sweep.job.>`) or per-sweep consumers (`sweep-workers-<sweep>`), not both
//   on one server.
import { createHash } from 'node:crypto';
import {
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ConfigError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { decodeSweepJob, SWEEP_ID_PATTERN, type SweepJob } from '../schemas/jobs.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { PullRunner } from '../streams/consumer-runner.ts';
import { isOverlappingWorkQueueConsumer, streamExists } from '../streams/nats-errors.ts';
import { EventPublisher } from '../streams/publisher.ts';
import { applyConsumer, DEFAULT_ACK_WAIT_MS, type DurableConsumerSpec } from '../streams/topology.ts';
import { canonicalJson, type JsonValue } from './ledger.ts';
import { type BacktestMetrics, expectedMaxSharpe, probabilisticSharpeRatio } from './metrics.ts';

export const SWEEP_JOB_STREAM = 'SWEEP_JOBS';
export const SWEEP_RESULT_STREAM = 'SWEEP_RESULTS';
const DAY_MS = 86_400_000;

export type SweepParams = { readonly [key: string]: JsonValue };

/** What a kind reports beside its metrics (a backtest: ledger hash, orders, fills). */
export type SweepResultDetails = { readonly [key: string]: JsonValue };

export type { SweepJob };

export interface SweepJobResult {
  schema: 'sweep_result.v1';
  jobId: string;
  sweep: string;
  kind: string;
  params: SweepParams;
  status: 'ok' | 'failed';
  metrics: BacktestMetrics | null;
  /** Absent in results of kinds that report none. */
  details?: SweepResultDetails | null;
  error: string | null;
  /** Which worker stored it, and on which delivery of the job. */
  worker: string;
  delivery: number;
}

/**
 * Runs one kind of job: parameters in, metrics (and optional details) out; null metrics for kinds that
 * are work, not trials (a feed backfill), which the sweep table leaves out. Throwing marks the attempt
 * failed: it is retried, except a ConfigError, which fails the job at once.
 */
export interface SweepJobRunner {
  readonly kind: string;
  run(params: SweepParams): Promise<{ metrics: BacktestMetrics | null; details?: SweepResultDetails }>;
}

export type SweepRegistry = ReadonlyMap<string, SweepJobRunner>;

export function sweepRegistry(runners: readonly SweepJobRunner[]): SweepRegistry {
  const registry = new Map<string, SweepJobRunner>();
  for (const runner of runners) {
    if (registry.has(runner.kind)) throw new Error(`sweep job kind ${runner.kind} registered twice`);
    registry.set(runner.kind, runner);
  }
  return registry;
}

/** Sweep ids become subject tokens and consumer names. */
const SWEEP_ID = new RegExp(SWEEP_ID_PATTERN);

export function checkSweepId(sweep: string): string {
  if (!SWEEP_ID.test(sweep)) throw new TypeError(`sweep id "${sweep}" must be 1–64 letters, digits, _ or -`);
  return sweep;
}

export const sweepSubjects = {
  job: (sweep: string) => `sweep.job.${checkSweepId(sweep)}`,
  result: (sweep: string) => `sweep.result.${checkSweepId(sweep)}`,
};

export function sweepJob(sweep: string, kind: string, params: SweepParams): SweepJob {
  const digest = createHash('sha256').update(canonicalJson({ kind, params })).digest('hex');
  return { schema: 'sweep_job.v1', id: `${checkSweepId(sweep)}.${digest.slice(0, 16)}`, sweep, kind, params };
}

/** One job per point of the Cartesian product of `grid`, each merged over `base`. */
export function gridJobs(
  sweep: string,
  kind: string,
  grid: { readonly [key: string]: readonly JsonValue[] },
  base: SweepParams = {},
): SweepJob[] {
  let points: SweepParams[] = [base];
  for (const [key, values] of Object.entries(grid))
    points = points.flatMap((point) => values.map((value) => ({ ...point, [key]: value })));
  return points.map((params) => sweepJob(sweep, kind, params));
}

export interface WalkForwardFold {
  trainFrom: number;
  trainTo: number;
  testFrom: number;
  testTo: number;
}

/** Rolling folds over [start, end): train `trainMs`, then test the next `testMs`, stepping by `testMs`. */
export function walkForwardFolds(
  start: number,
  end: number,
  trainMs: number,
  testMs: number,
): WalkForwardFold[] {
  const folds: WalkForwardFold[] = [];
  for (let from = start; from + trainMs + testMs <= end; from += testMs)
    folds.push({
      trainFrom: from,
      trainTo: from + trainMs,
      testFrom: from + trainMs,
      testTo: from + trainMs + testMs,
    });
  return folds;
}

export interface SweepTopologyOptions {
  replicas?: number;
  /** Without "working" for this long a job goes to another worker; default 30 s. */
  ackWaitMs?: number;
  /** Deliveries of a failing job before its failure is stored as the result; default 3. */
  maxDeliver?: number;
  /** Per-sweep consumer instead of the shared one (see the header). */
  sweep?: string;
}

export function sweepStreamConfigs(replicas = 1): (Partial<StreamConfig> & { name: string })[] {
  const common = { storage: StorageType.File, num_replicas: replicas, duplicate_window: nanos(DAY_MS) };
  return [
    {
      ...common,
      name: SWEEP_JOB_STREAM,
      subjects: ['sweep.job.>'],
      retention: RetentionPolicy.Workqueue,
      max_age: nanos(30 * DAY_MS),
    },
    {
      ...common,
      name: SWEEP_RESULT_STREAM,
      subjects: ['sweep.result.>'],
      retention: RetentionPolicy.Limits,
      max_age: nanos(365 * DAY_MS),
    },
  ];
}

export function workerDurable(sweep?: string): string {
  return sweep === undefined ? 'sweep-workers' : `sweep-workers-${checkSweepId(sweep)}`;
}

/** The workers' durable consumer: shared over every sweep, or one sweep's own. */
function workerConsumer(options: Pick<SweepTopologyOptions, 'sweep' | 'ackWaitMs' | 'maxDeliver'>) {
  return {
    stream: SWEEP_JOB_STREAM,
    durable: workerDurable(options.sweep),
    filterSubject: options.sweep === undefined ? 'sweep.job.>' : sweepSubjects.job(options.sweep),
    maxDeliver: options.maxDeliver ?? 3,
    ackWaitMs: options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
  } satisfies DurableConsumerSpec;
}

/** Creates or updates both streams (no consumer: what a submitter needs). */
export async function applySweepStreams(manager: JetStreamManager, replicas = 1): Promise<void> {
  for (const config of sweepStreamConfigs(replicas)) {
    if (await streamExists(manager, config.name)) await manager.streams.update(config.name, config);
    else await manager.streams.add(config);
  }
}

/** Creates or updates both streams and the workers' durable consumer. */
export async function applySweepTopology(
  manager: JetStreamManager,
  options: SweepTopologyOptions = {},
): Promise<void> {
  await applySweepStreams(manager, options.replicas);
  try {
    await applyConsumer(manager, workerConsumer(options));
  } catch (error) {
    if (isOverlappingWorkQueueConsumer(error))
      throw new Error(
        `${(error as Error).message}: another sweep worker consumer already covers these subjects; run every worker with the same --sweep choice`,
      );
    throw error;
  }
}

/** Publishes the jobs; a job already submitted inside the duplicate window (24 h) counts as a duplicate. */
export async function submitSweep(
  js: JetStreamClient,
  jobs: readonly SweepJob[],
): Promise<{ published: number; duplicates: number }> {
  let published = 0;
  let duplicates = 0;
  for (const job of jobs) {
    const ack = await js.publish(sweepSubjects.job(job.sweep), JSON.stringify(job), { msgID: job.id });
    if (ack.duplicate) duplicates++;
    else published++;
  }
  return { published, duplicates };
}

export interface WorkerOptions {
  js: JetStreamClient;
  manager: JetStreamManager;
  /** Where dead letters go (a malformed job). */
  subjects: Subjects;
  registry: SweepRegistry;
  /** Shown in results and logs. */
  workerId: string;
  /** Take jobs of this sweep only, through its own consumer. */
  sweep?: string;
  /** Stop after this many jobs. */
  maxJobs?: number;
  /** Stop once no job has arrived for this long; default: wait for jobs until aborted. */
  idleExitMs?: number;
  /** Aborting drains: the job in hand is finished, stored and acked, then the worker returns. */
  signal?: AbortSignal;
  /** Must match the consumer's ack_wait (for the "working" heartbeat); default 30 s. */
  ackWaitMs?: number;
  /** Must match applySweepTopology's maxDeliver; default 3. */
  maxDeliver?: number;
  logger?: Logger;
}

export interface WorkerSummary {
  worker: string;
  /** Jobs whose result this worker stored (ok or failed). */
  processed: number;
  failed: number;
  /** Attempts that threw and were handed back for a retry. */
  retried: number;
  stoppedBy: 'max-jobs' | 'idle' | 'signal';
}

/** Nak delay of a failed attempt by delivery (1 s, 2 s, ... up to 10 s). */
const RETRY_BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 10_000] as const;

/** Runs jobs one at a time from the workers' durable consumer until a stop condition. */
export async function runWorker(options: WorkerOptions): Promise<WorkerSummary> {
  const { js, registry, workerId, logger } = options;
  const consumer = workerConsumer(options);
  const summary: WorkerSummary = {
    worker: workerId,
    processed: 0,
    failed: 0,
    retried: 0,
    stoppedBy: 'signal',
  };
  // Idle time is operational (when to exit), not part of any computation, so the wall clock is fine here.
  let idleSince = performance.now();
  /** Whether to take another job; checked before each pull. */
  const active = (): boolean => {
    if (options.maxJobs !== undefined && summary.processed >= options.maxJobs) summary.stoppedBy = 'max-jobs';
    else if (options.idleExitMs !== undefined && performance.now() - idleSince >= options.idleExitMs)
      summary.stoppedBy = 'idle';
    else return true;
    return false;
  };
  const runJob = async (job: SweepJob, delivery: number): Promise<void> => {
    logger?.info({ job: job.id, kind: job.kind, delivery }, 'job started');
    let result: SweepJobResult;
    try {
      const runner = registry.get(job.kind);
      if (runner === undefined) throw new Error(`no runner for job kind "${job.kind}"`);
      const { metrics, details } = await runner.run(job.params);
      result = {
        ...resultBase(job, workerId, delivery),
        status: 'ok',
        metrics,
        ...(details !== undefined ? { details } : {}),
        error: null,
      };
    } catch (error) {
      const reason = (error as Error).message ?? String(error);
      if (delivery < consumer.maxDeliver && !(error instanceof ConfigError)) {
        logger?.warn({ job: job.id, delivery, error: reason }, 'job failed; handed back for a retry');
        summary.retried++;
        // The runner naks it with backoff.
        throw error;
      }
      result = { ...resultBase(job, workerId, delivery), status: 'failed', metrics: null, error: reason };
    }
    await js.publish(sweepSubjects.result(job.sweep), JSON.stringify(result), { msgID: `result.${job.id}` });
    summary.processed++;
    if (result.status === 'failed') summary.failed++;
    logger?.info({ job: job.id, status: result.status }, 'job done');
    idleSince = performance.now();
  };
  const runner = new PullRunner<SweepJob>({
    consumer,
    decode: (_subject, data) => decodeSweepJob(data),
    handler: (job, delivery) => runJob(job, delivery.deliveryCount),
    publisher: new EventPublisher(js),
    subjects: options.subjects,
    oneAtATime: true,
    backoffMs: RETRY_BACKOFF_MS,
    active,
    ...(logger ? { logger } : {}),
  });
  await runner.start(js, options.manager);
  const drain = () => void runner.drain();
  options.signal?.addEventListener('abort', drain, { once: true });
  if (options.signal?.aborted) drain();
  try {
    await runner.stopped();
  } finally {
    options.signal?.removeEventListener('abort', drain);
  }
  return summary;
}

function resultBase(job: SweepJob, worker: string, delivery: number) {
  return {
    schema: 'sweep_result.v1' as const,
    jobId: job.id,
    sweep: job.sweep,
    kind: job.kind,
    params: job.params,
    worker,
    delivery,
  };
}

/**
 * Jobs of the sweep still in the work queue (waiting or running). A job leaves the queue when it is
 * acked, after its result is stored, so 0 means every submitted job has its result.
 */
export async function pendingSweepJobs(manager: JetStreamManager, sweep: string): Promise<number> {
  const subject = sweepSubjects.job(sweep);
  const info = await manager.streams.info(SWEEP_JOB_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** Every result stored for the sweep, in stream order. */
export async function readSweepResults(js: JetStreamClient, sweep: string): Promise<SweepJobResult[]> {
  const consumer = await js.consumers.get(SWEEP_RESULT_STREAM, {
    filter_subjects: sweepSubjects.result(sweep),
  });
  const results: SweepJobResult[] = [];
  let pending = (await consumer.info()).num_pending;
  while (pending > 0) {
    const message = await consumer.next({ expires: 5_000 });
    if (message === null) throw new Error(`sweep ${sweep}: results stopped arriving with ${pending} left`);
    results.push(message.json<SweepJobResult>());
    pending = message.info.pending;
  }
  return results;
}

export interface SweepRow {
  jobId: string;
  params: SweepParams;
  sharpe: number | null;
  totalReturn: number;
  maxDrawdown: number;
  probabilisticSharpe: number | null;
  /** PSR against the expected maximum Sharpe of this sweep's trials. */
  deflatedSharpe: number | null;
  /** The kind's details (a backtest: ledgerHash, orders, fills...), null when it reports none. */
  details: SweepResultDetails | null;
}

export interface SweepSummary {
  sweep: string;
  /** Trials that produced metrics: N in the deflated Sharpe. */
  trials: number;
  /** Variance of the trials' per-period Sharpe ratios: V in the deflated Sharpe (null with < 2 trials). */
  sharpeVariance: number | null;
  /** Per period. */
  expectedMaxSharpe: number;
  /** Best annualised Sharpe first; trials without a Sharpe last. */
  rows: SweepRow[];
  failed: { jobId: string; params: SweepParams; error: string }[];
}

/** One table for the sweep; each trial's deflated Sharpe accounts for all N trials. */
export function aggregateSweep(sweep: string, results: readonly SweepJobResult[]): SweepSummary {
  const ok = results.filter(
    (result): result is SweepJobResult & { metrics: BacktestMetrics } => result.metrics !== null,
  );
  const perPeriod = ok
    .map((result) => result.metrics)
    .filter((metrics) => metrics.sharpe !== null)
    .map((metrics) => metrics.sharpe! / Math.sqrt(metrics.periodsPerYear));
  let sharpeVariance: number | null = null;
  if (perPeriod.length >= 2) {
    const average = perPeriod.reduce((sum, value) => sum + value, 0) / perPeriod.length;
    sharpeVariance =
      perPeriod.reduce((sum, value) => sum + (value - average) ** 2, 0) / (perPeriod.length - 1);
  }
  const threshold = expectedMaxSharpe({ count: ok.length, sharpeVariance: sharpeVariance ?? 0 });
  const rows = ok.map(({ jobId, params, metrics, details }): SweepRow => {
    const deflatedSharpe =
      metrics.sharpe === null || metrics.skew === null || metrics.kurtosis === null
        ? null
        : probabilisticSharpeRatio(
            metrics.sharpe / Math.sqrt(metrics.periodsPerYear),
            threshold,
            metrics.periods,
            metrics.skew,
            metrics.kurtosis,
          );
    return {
      jobId,
      params,
      sharpe: metrics.sharpe,
      totalReturn: metrics.totalReturn,
      maxDrawdown: metrics.maxDrawdown,
      probabilisticSharpe: metrics.probabilisticSharpe,
      deflatedSharpe,
      details: details ?? null,
    };
  });
  rows.sort((a, b) => (b.sharpe ?? Number.NEGATIVE_INFINITY) - (a.sharpe ?? Number.NEGATIVE_INFINITY));
  return {
    sweep,
    trials: ok.length,
    sharpeVariance,
    expectedMaxSharpe: threshold,
    rows,
    failed: results
      .filter((result) => result.status === 'failed')
      .map(({ jobId, params, error }) => ({ jobId, params, error: error ?? 'unknown' })),
  };
}
