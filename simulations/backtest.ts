// A replay backtest through the same actors as live: market events from a source are published on an
// ActorBus, and FeatureActor → InferenceActor → RiskGateActor → ExecutionActor (simulated venue) →
// PortfolioActor run exactly as they do in production. The in-process bus delivers each event's whole
// cascade before the next event; over NATS (namespaced `bt.<run>.` subjects and streams) the driver
// waits for every consumer to go quiet after each event, so both modes see the same order and give
// byte-identical ledgers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import { venueFor } from '../actors/execution/config.ts';
import { getFeatureSet } from '../actors/feature/feature-set.ts';
import { type ModelSource, StaticModelSource } from '../actors/inference/registry.ts';
import { type PipelineConfig, startPipeline } from '../actors/pipeline.ts';
import { sizerFor } from '../actors/risk/config.ts';
import { parseRiskLimits } from '../actors/risk/limits.ts';
import { ReplayClock } from '../core/clock.ts';
import { dateMillis } from '../core/config-file.ts';
import { GateKey } from '../core/gate-seal.ts';
import { bracketChildIdFor, orderIdFor } from '../core/lineage-ids.ts';
import type { Logger } from '../core/logger.ts';
import type {
  ExitReason,
  Fill,
  MessageName,
  OrderEvent,
  OrderIntent,
  OrderIntentV1,
  PortfolioSnapshot,
  RiskDecision,
} from '../schemas/messages.ts';
import { upgradeOrderIntent } from '../schemas/order-intent.ts';
import { Subjects } from '../schemas/subjects.ts';
import { type ActorBus, NatsActorBus } from '../streams/bus.ts';
import { InProcessBus } from '../streams/in-process-bus.ts';
import { applyStreams, streamName } from '../streams/topology.ts';
import { type Database, json, toTimestamp } from '../timescale/database.ts';
import {
  type BacktestAnalytics,
  type BenchmarkInput,
  benchmarkCurve,
  computeAnalytics,
} from './analytics.ts';
import type { BacktestConfig } from './backtest-config.ts';
import { appendSignal, type ExecutionEntry, executionLedger, type JsonValue, Ledger } from './ledger.ts';
import { type BacktestMetrics, computeMetrics, type EquityPoint } from './metrics.ts';
import { waitForQuiet } from './quiescence.ts';
import { writeReportHtml } from './report-html.ts';
import { trainSentimentModel, trainTabularModel } from './research/train.ts';
import type { MarketEvent } from './sources/replay.ts';
import { type BacktestExits, RoundTripBuilder } from './trades.ts';

export type BacktestMode = 'inprocess' | 'nats';

export interface NatsBacktestServices {
  jetstream: JetStreamClient;
  manager: JetStreamManager;
}

export interface BacktestOptions {
  config: BacktestConfig;
  runId: string;
  mode: BacktestMode;
  /** Market events in replay order; a preloaded array or generator skips async iteration. */
  events: AsyncIterable<MarketEvent> | Iterable<MarketEvent>;
  /** Required for mode 'nats'. */
  nats?: NatsBacktestServices;
  /** The run, its orders, fills and metrics are stored when given. */
  db?: Kysely<Database>;
  /** Folder for the HTML report (and trained models); none when undefined. */
  reportDir?: string;
  /** Folder with sentiment/sent_train.csv and sent_valid.csv: where a run that scores news trains on. */
  sentimentDataDir?: string;
  /** Models to score with instead of training them (config.model and sentimentDataDir are then unused). */
  models?: BacktestModels;
  partitions?: number;
  onEvent?: (eventsDone: number) => void;
  logger?: Logger;
}

export interface BacktestSummary {
  runId: string;
  mode: BacktestMode;
  events: number;
  signals: number;
  orders: number;
  fills: number;
  denials: number;
  denialsByCode: Record<string, number>;
  /** Messages an actor refused (admission, contract, a handler that kept failing): each a dead letter. */
  deadLetters: number;
  ledgerHash: string;
  /** SHA-256 over the signals (id, direction, probability) in arrival order. */
  signalHash: string;
  metrics: BacktestMetrics;
  analytics: BacktestAnalytics;
  exits: BacktestExits;
  report: string | null;
  models: { strategy: string; sentiment: string | null };
}

const DAY_MS = 86_400_000;

/** Every actor but the live-only alerts; news joins when the config scores news. */
const BACKTEST_ACTORS = ['feature', 'inference', 'risk', 'execution', 'portfolio'] as const;

function publishName(event: MarketEvent): MessageName {
  switch (event.schema) {
    case 'bar.v1':
      return 'bar';
    case 'trade_tick.v1':
      return 'trade_tick';
    case 'quote_tick.v1':
      return 'quote_tick';
    case 'news_item.v1':
      return 'news_item';
    case 'sentiment_score.v1':
      return 'sentiment_score';
  }
}

function subjectOf(subjects: Subjects, event: MarketEvent): string {
  switch (event.schema) {
    case 'bar.v1':
      return subjects.bar(event.symbol);
    case 'trade_tick.v1':
    case 'quote_tick.v1':
      return subjects.tick(event.symbol);
    case 'news_item.v1':
      return subjects.news(event.symbol);
    case 'sentiment_score.v1':
      return subjects.sentiment(event.symbol);
  }
}

class RunRecorder {
  /** Order events and fills; hashed in canonical order (see ledger()). */
  private readonly executions: ExecutionEntry[] = [];
  /** Every signal in arrival order, to compare a replay with the session it replays. */
  readonly signalLedger = new Ledger({ keepLines: false });
  readonly trips = new RoundTripBuilder();
  /** End-of-UTC-day equity, kept as it comes (a run can hold millions of snapshots). */
  private readonly equityByDay = new Map<number, EquityPoint>();
  /** Last close per symbol per UTC day of the bars the actors were handed: the benchmark's prices. */
  readonly closesBySymbol = new Map<string, Map<number, number>>();
  readonly denialsByCode: Record<string, number> = {};
  /** Why each closing order closed, where its intent says: exit intents, and bracket children by id. */
  private readonly exitReasons = new Map<string, ExitReason>();
  private bracketedEntries = 0;
  private timeLimitedEntries = 0;
  signals = 0;
  orders = 0;
  fills = 0;
  denials = 0;

  onOrderEvent(event: OrderEvent): void {
    if (event.status === 'submitted') this.orders++;
    this.executions.push({ kind: 'order', event });
  }

  onFill(fill: Fill): void {
    this.fills++;
    this.executions.push({ kind: 'fill', event: fill });
    this.trips.add(fill);
  }

  /**
   * End-of-UTC-day equity over the window: the series the metrics and the report are computed on.
   * It starts on the window's first day with the starting cash (the portfolio's start-up snapshot is
   * stamped before any event).
   */
  dailyEquity(fromDay: number, startingCash: number): EquityPoint[] {
    const points = [...this.equityByDay.values()].filter((point) => point.t > fromDay);
    return [{ t: fromDay, equity: startingCash, grossExposure: 0 }, ...points].sort((a, b) => a.t - b.t);
  }

  ledger(): Ledger {
    return executionLedger(this.executions);
  }

  onIntent(received: OrderIntent | OrderIntentV1): void {
    const intent = upgradeOrderIntent(received);
    const orderId = orderIdFor(intent.id);
    if (intent.exit_reason !== undefined) this.exitReasons.set(orderId, intent.exit_reason);
    if (intent.bracket === undefined) return;
    this.bracketedEntries++;
    if (intent.exit_after !== undefined) this.timeLimitedEntries++;
    this.exitReasons.set(bracketChildIdFor(orderId, 'take_profit'), 'take_profit');
    this.exitReasons.set(bracketChildIdFor(orderId, 'stop_loss'), 'stop_loss');
  }

  exits(): BacktestExits {
    return {
      byReason: this.trips.exitsByReason((orderId) => this.exitReasons.get(orderId)),
      bracketedEntries: this.bracketedEntries,
      timeLimitedEntries: this.timeLimitedEntries,
    };
  }

  onDecision(decision: RiskDecision): void {
    if (decision.outcome === 'deny') {
      this.denials++;
      this.denialsByCode[decision.code] = (this.denialsByCode[decision.code] ?? 0) + 1;
    }
  }

  async subscribe(bus: ActorBus): Promise<void> {
    const on = async <N extends MessageName>(
      durable: string,
      filterSubject: string,
      messages: readonly N[],
      handler: (message: never) => void,
    ) => bus.subscribe({ durable, stream: 'ORDERS', filterSubject, messages, handler: handler as never });
    const ns = bus.subjects.namespace;
    await on('bt-recorder-orders', `${ns}exec.order.>`, ['order_event'], (event: OrderEvent) =>
      this.onOrderEvent(event),
    );
    await on('bt-recorder-fills', `${ns}exec.fill.>`, ['fill'], (fill: Fill) => this.onFill(fill));
    await on(
      'bt-recorder-intents',
      `${ns}ord.intent.>`,
      ['order_intent', 'order_intent_v1'],
      (intent: OrderIntent | OrderIntentV1) => this.onIntent(intent),
    );
    await on('bt-recorder-decisions', `${ns}risk.decision.>`, ['risk_decision'], (decision: RiskDecision) =>
      this.onDecision(decision),
    );
    await on(
      'bt-recorder-portfolio',
      `${ns}pf.snapshot.>`,
      ['portfolio_snapshot'],
      (snapshot: PortfolioSnapshot) => {
        const day = Math.floor(snapshot.ts_event / DAY_MS) * DAY_MS;
        this.equityByDay.set(day, {
          t: day,
          equity: snapshot.equity,
          grossExposure: snapshot.gross_exposure,
        });
      },
    );
    await bus.subscribe({
      durable: 'bt-recorder-bars',
      stream: 'MARKET',
      filterSubject: `${ns}md.bar.>`,
      messages: ['bar'],
      handler: (bar) => {
        let closes = this.closesBySymbol.get(bar.symbol);
        if (closes === undefined) {
          closes = new Map();
          this.closesBySymbol.set(bar.symbol, closes);
        }
        closes.set(Math.floor(bar.ts_event / DAY_MS) * DAY_MS, bar.close);
      },
    });
    await bus.subscribe({
      durable: 'bt-recorder-signals',
      stream: 'SIGNALS',
      filterSubject: `${ns}sig.>`,
      messages: ['signal'],
      handler: (signal) => {
        this.signals++;
        appendSignal(this.signalLedger, signal);
      },
    });
  }
}

/** The models a run scores with: where inference finds them, and the ids active for the config. */
export interface BacktestModels {
  source: ModelSource;
  strategy: string;
  sentiment: string | null;
}

/**
 * Walk-forward: the strategy model learns from the config's price files before the window only (and
 * the sentiment model from `sentimentDataDir` when the config scores news).
 */
function trainBacktestModels(
  config: BacktestConfig,
  modelDir: string,
  sentimentDataDir: string | undefined,
): BacktestModels {
  const trained = trainTabularModel({
    model: config.model.kind,
    symbols: config.data.symbols ?? [],
    dataDir: config.model.priceDir,
    featureSet: config.featureSet,
    labels: { profitTake: 1, stopLoss: 1, verticalBars: 5, volatilityWindow: 20 },
    folds: 3,
    embargo: 0.01,
    holdout: 0.2,
    l2: config.model.l2 ?? 10,
    mlp: { hidden: 16, epochs: 20, activation: 'tanh', seed: config.seed },
    outputDir: modelDir,
    from: dateMillis(config.model.trainFrom),
    to: dateMillis(config.data.from),
  });
  const models = new StaticModelSource([{ manifest: trained.manifest, bytes: trained.onnx }], {
    [config.strategy]: trained.manifest.modelId,
  });
  let sentimentModelId: string | null = null;
  if (config.news) {
    if (sentimentDataDir === undefined) throw new Error('a backtest that scores news needs sentimentDataDir');
    const sentiment = trainSentimentModel({
      dataDir: sentimentDataDir,
      outputDir: modelDir,
      seed: config.seed,
    });
    models.add({ manifest: sentiment.manifest, bytes: sentiment.onnx });
    models.activate('news-sentiment', sentiment.manifest.modelId);
    sentimentModelId = sentiment.manifest.modelId;
  }
  return { source: models, strategy: trained.manifest.modelId, sentiment: sentimentModelId };
}

/**
 * What each actor of a backtest is configured with. A live session that is to be replayed runs its
 * pipeline with the same, so the replay's ledger can be compared with the session's.
 */
export function backtestPipelineConfig(config: BacktestConfig, runId: string): PipelineConfig {
  const featureSet = getFeatureSet(config.featureSet, '/featureSet');
  return {
    feature: {
      set: featureSet,
      barInterval: config.barInterval,
      staleAfterMs: 7 * DAY_MS,
    },
    inference: {
      strategy: config.strategy,
      featureSet,
      maxBatchSize: config.inference.maxBatchSize,
      maxWaitMs: config.inference.maxWaitMs,
      neutralBand: config.inference.neutralBand,
      executionProviders: ['cpu'],
      drift: false,
    },
    news: { executionProviders: ['cpu'] },
    trading: {
      account: config.trading.account,
      startingCash: config.trading.startingCash,
      risk: {
        limits: parseRiskLimits(config.trading.limits, '/trading/limits'),
        sizer: sizerFor(config.trading.sizing),
        ...(config.trading.venueRules ? { venueRules: config.trading.venueRules } : {}),
        ...(config.trading.barrierExits ? { barrierExits: { barInterval: config.barInterval } } : {}),
      },
      venue: venueFor(config.trading.venue, config.seed),
      startState: 'active',
      runId,
      // Gate and execution share this process; a key from the run keeps reruns identical.
      gateKey: GateKey.forRun(runId),
    },
  };
}

/** The config's benchmark, priced from the bars the run replayed, on the strategy's equity timestamps. */
function backtestBenchmark(
  config: BacktestConfig,
  closesBySymbol: ReadonlyMap<string, ReadonlyMap<number, number>>,
  equity: readonly EquityPoint[],
): BenchmarkInput {
  const benchmark = config.benchmark!;
  const symbols =
    benchmark.kind === 'buy-and-hold'
      ? [benchmark.symbol]
      : (config.data.symbols ?? [...closesBySymbol.keys()].sort());
  return {
    name: benchmark.kind === 'buy-and-hold' ? `buy-and-hold ${benchmark.symbol}` : 'equal-weight',
    symbols,
    curve: benchmarkCurve(
      closesBySymbol,
      symbols,
      equity.map((point) => point.t),
      config.trading.startingCash,
    ),
  };
}

export async function runBacktest(options: BacktestOptions): Promise<BacktestSummary> {
  const { config, runId, mode, logger } = options;
  const from = dateMillis(config.data.from);
  const to = dateMillis(config.data.to);
  // Given models (a recorded live session replayed with the models it ran) skip training.
  const models =
    options.models ??
    trainBacktestModels(
      config,
      options.reportDir
        ? join(options.reportDir, runId, 'models')
        : mkdtempSync(join(tmpdir(), 'sluice-bt-')),
      options.sentimentDataDir,
    );

  const partitions = options.partitions ?? 4;
  let bus: ActorBus;
  if (mode === 'nats') {
    if (!options.nats) throw new Error('mode nats needs NATS services');
    const subjects = new Subjects(partitions, `bt.${runId}.`);
    await applyStreams(options.nats.manager, { replicas: 1, namespace: subjects.namespace });
    bus = new NatsActorBus(options.nats.jetstream, options.nats.manager, subjects, logger, {
      idleCheckpointMs: 0,
    });
  } else {
    bus = new InProcessBus(new Subjects(partitions));
  }

  const recorder = new RunRecorder();
  await recorder.subscribe(bus);
  const clock = new ReplayClock();
  const pipeline = await startPipeline(
    [...BACKTEST_ACTORS, ...(config.news ? (['news'] as const) : [])],
    backtestPipelineConfig(config, runId),
    {
      bus,
      clock,
      models: models.source,
      ...(options.db ? { db: options.db } : {}),
      ...(logger ? { logger } : {}),
    },
  );

  const quiet =
    mode === 'nats' && options.nats
      ? () => waitForQuiet(options.nats!.manager, bus.subjects.namespace)
      : undefined;
  let events = 0;
  const counted = () => {
    events++;
    options.onEvent?.(events);
  };
  // The in-process bus delivers a synchronous cascade without a promise; only an event whose
  // cascade went async (or any event over NATS) is awaited.
  const publish =
    bus instanceof InProcessBus
      ? (event: MarketEvent) => bus.publishNow(publishName(event), subjectOf(bus.subjects, event), event)
      : (event: MarketEvent) => bus.publish(publishName(event), subjectOf(bus.subjects, event), event);
  const replay = (event: MarketEvent): Promise<void> | undefined => {
    if (event.ts_init < from || event.ts_init >= to) return undefined;
    clock.advanceTo(event.ts_init);
    const delivered = publish(event);
    if (quiet) return Promise.resolve(delivered).then(quiet).then(counted);
    if (delivered) return delivered.then(counted);
    counted();
    return undefined;
  };
  if (Symbol.iterator in options.events) {
    for (const event of options.events) {
      const pending = replay(event);
      if (pending) await pending;
    }
  } else {
    for await (const event of options.events) {
      const pending = replay(event);
      if (pending) await pending;
    }
  }
  // The open micro-batch is scored at the end of the replay, as live would on its next event.
  await pipeline.inference.flush();
  await bus.flush();
  if (quiet) await quiet();
  await pipeline.stop();
  const deadLetters =
    bus instanceof InProcessBus
      ? bus.deadLetters.length
      : options.nats
        ? (await options.nats.manager.streams.info(streamName('DEADLETTER', bus.subjects.namespace))).state
            .messages
        : 0;
  if (bus instanceof NatsActorBus) await bus.close();

  const equity = recorder.dailyEquity(Math.floor(from / DAY_MS) * DAY_MS, config.trading.startingCash);
  const metrics = computeMetrics({
    equity,
    trades: recorder.trips.trades,
    tradedNotional: recorder.trips.tradedNotional,
  });
  const analytics = computeAnalytics({
    equity,
    periodsPerYear: metrics.periodsPerYear,
    ...(config.analytics?.rollingWindow ? { rollingWindow: config.analytics.rollingWindow } : {}),
    bootstrap: {
      seed: config.seed,
      samples: config.analytics?.bootstrap?.samples ?? 1000,
      ...(config.analytics?.bootstrap?.blockLength
        ? { blockLength: config.analytics.bootstrap.blockLength }
        : {}),
    },
    ...(config.benchmark ? { benchmark: backtestBenchmark(config, recorder.closesBySymbol, equity) } : {}),
  });
  const ledgerHash = recorder.ledger().hash();
  const exits = recorder.exits();
  const report = options.reportDir
    ? await writeReportHtml(
        {
          runId,
          config: JSON.parse(JSON.stringify(config)) as JsonValue,
          equity,
          trades: recorder.trips.trades,
          denialsByCode: recorder.denialsByCode,
          metrics,
          analytics,
          exits,
        },
        join(options.reportDir, `${runId}.html`),
      )
    : null;
  const summary: BacktestSummary = {
    runId,
    mode,
    events,
    signals: recorder.signals,
    orders: recorder.orders,
    fills: recorder.fills,
    denials: recorder.denials,
    denialsByCode: recorder.denialsByCode,
    deadLetters,
    ledgerHash,
    signalHash: recorder.signalLedger.hash(),
    metrics,
    analytics,
    exits,
    report,
    models: { strategy: models.strategy, sentiment: models.sentiment },
  };
  if (options.db) await recordRun(options.db, summary, config, clock.now());
  return summary;
}

async function recordRun(
  db: Kysely<Database>,
  summary: BacktestSummary,
  config: BacktestConfig,
  endedAt: number,
) {
  await db
    .insertInto('runs')
    .values({
      id: summary.runId,
      kind: 'backtest',
      config: json(config),
      started_at: toTimestamp(dateMillis(config.data.from)),
      finished_at: toTimestamp(endedAt),
      metrics: json({
        ...summary.metrics,
        ledgerHash: summary.ledgerHash,
        events: summary.events,
        exits: summary.exits.byReason,
      }),
    })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute();
}
