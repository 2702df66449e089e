// The pipeline: the one place the actors are wired, for live (`sluice run`) and replay (backtests)
// alike. Market data → feature → inference (and news) → risk gate → execution → portfolio, with the
// alerts beside them. Live and replay give it the same config and differ only in what they pass as
// services: the bus (NATS, or in-process), the clock (wall, or replay) and what publishes the source
// (ingest, or the replay driver); a live process may run any subset of the actors.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.ts';
import type { GateKey } from '../core/gate-seal.ts';
import type { Logger } from '../core/logger.ts';
import type { Bar, PortfolioSnapshot, QuoteTick, Reconciliation, TradeTick } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { ActorBus, Subscription } from '../streams/bus.ts';
import type { NatsConnection } from '../streams/connection.ts';
import { lastStoredMessage } from '../streams/last-message.ts';
import type { SnapshotStore } from '../streams/snapshot-store.ts';
import { streamName } from '../streams/topology.ts';
import type { Database } from '../timescale/database.ts';
import { AlertActor, type AlertActorOptions } from './alerts/actor.ts';
import { DeadLetterRateMonitor, type DeadLetterRateOptions } from './alerts/dead-letter-rate.ts';
import { type BrokerOptions, ExecutionActor } from './execution/actor.ts';
import type { SimulatedVenueOptions } from './execution/simulated-venue.ts';
import { FeatureActor, type FeatureActorOptions } from './feature/actor.ts';
import { LeasedFeatureActors } from './feature/leased-partitions.ts';
import { InferenceActor, type InferenceActorOptions } from './inference/actor.ts';
import type { ModelSource } from './inference/registry.ts';
import { subscribeMarketData } from './market-data.ts';
import { NewsActor, type NewsActorOptions } from './news/actor.ts';
import { PortfolioActor } from './portfolio/actor.ts';
import { type DenialBurst, RiskGateActor } from './risk/actor.ts';
import type { RiskGateCoreOptions, TradingState } from './risk/core.ts';
import type { ActorName } from './runtime/config.ts';

export interface TradingConfig {
  account: string;
  startingCash: number;
  /** Limits, sizer and order style of the risk gate. */
  risk: Omit<RiskGateCoreOptions, 'clock' | 'tradingState'>;
  venue: SimulatedVenueOptions;
  /** A real broker instead of the simulated venue (`sluice run` only). */
  broker?: BrokerOptions;
  /** `active` for a fresh backtest; `reducing` or `halted` live (held until reconciled). */
  startState: TradingState;
  markIntervalMs?: number;
  denialBurst?: DenialBurst;
  /** run_id of the database rows ('live' unless a backtest names itself). */
  runId?: string;
  /**
   * The risk gate seals the intents it passes with it; execution refuses any other. Live: from
   * SLUICE_GATE_KEY; a backtest: GateKey.forRun(runId).
   */
  gateKey: GateKey;
}

/** What each actor is configured with; a section is needed only where its actor is started. */
export interface PipelineConfig {
  /** The feature actor's; `partitions` defaults to all of the bus's (with leases: those preferred). */
  feature?: Omit<FeatureActorOptions, 'bus' | 'partitions' | 'db' | 'clock' | 'logger'> & {
    partitions?: readonly number[];
  };
  inference?: Omit<InferenceActorOptions, 'bus' | 'models' | 'logger'>;
  news?: Omit<NewsActorOptions, 'bus' | 'models' | 'logger'>;
  /** Risk gate, execution and portfolio; the gate key only where risk or execution runs. */
  trading?: Omit<TradingConfig, 'gateKey'> & { gateKey?: GateKey };
  alerts?: Omit<AlertActorOptions, 'bus' | 'logger'> & { deadLetterRate?: DeadLetterRateOptions };
}

/** What live and replay provide differently. */
export interface PipelineServices {
  bus: ActorBus;
  /** Wall clock live, the replay clock in a backtest: stamps what is not event-timed (rejection log). */
  clock?: Clock;
  /**
   * Where inference and news find their models (the registry live, trained models in a backtest), and
   * the risk gate their label settings when it gives entries barrier exits.
   */
  models?: ModelSource;
  /** KV snapshots of the trading actors (live); without it they keep no state across restarts. */
  store?: SnapshotStore;
  db?: Kysely<Database>;
  /** Serves ctl.risk.* on this connection. */
  control?: NatsConnection;
  /** Warms the risk gate's reference prices at start (see lastMarketDataFromStream). */
  lastMarketData?: () => Promise<(TradeTick | QuoteTick | Bar)[]>;
  /** The portfolio's last snapshot, for the risk gate at start (see lastPortfolioSnapshotFromStream). */
  lastPortfolioSnapshot?: () => Promise<PortfolioSnapshot | undefined>;
  /** The venue's last reconciliation, for the risk gate at start (see lastReconciliationFromStream). */
  lastReconciliation?: () => Promise<Reconciliation | undefined>;
  /** The risk gate's leadership term, when these actors run under an election (streams/leader-election.ts). */
  gateTerm?: number;
  /** Feature partitions leased among processes (actors/feature/leased-partitions.ts) instead of owned outright. */
  featureLeases?: { kv: KV; holder: string; leaseMs: number; standbyDelayMs?: number };
  logger?: Logger;
}

/** The actors on the ActorBus; the feed publishes to JetStream itself (runtime.ts starts it). */
export type PipelineActorName = Exclude<ActorName, 'feed'>;

interface PipelineActors {
  feature: FeatureActor | LeasedFeatureActors;
  inference: InferenceActor;
  news: NewsActor;
  risk: RiskGateActor;
  execution: ExecutionActor;
  portfolio: PortfolioActor;
  alerts: AlertActor;
}

/**
 * One entry per actor: present for exactly those started when their names are literals
 * (`startTrading`), possibly absent when they are only known at run time (`sluice run --actors`).
 */
type PerActor<A extends PipelineActorName, T extends Record<PipelineActorName, unknown>> = {
  readonly [K in PipelineActorName]: PipelineActorName extends A
    ? T[K] | undefined
    : K extends A
      ? T[K]
      : undefined;
};

export type PipelineStatus<A extends PipelineActorName = PipelineActorName> = PerActor<
  A,
  { [K in PipelineActorName]: ReturnType<PipelineActors[K]['status']> }
>;

export type Pipeline<A extends PipelineActorName = PipelineActorName> = PerActor<A, PipelineActors> & {
  status(): PipelineStatus<A>;
  /** Stops upstream first, so nothing an actor still publishes reaches one already stopped. */
  stop(): Promise<void>;
};

export const TRADING_ACTORS = ['risk', 'execution', 'portfolio'] as const;

/**
 * Starts `actors` in the order the in-process bus needs, which delivers only to handlers already
 * subscribed: downstream first. The risk gate first (it must hear the portfolio's start snapshot),
 * then execution, the portfolio, one shared market-data consumer for the three, the alerts, then
 * inference, news and last the feature actor, which sends the first vector.
 */
export async function startPipeline<A extends PipelineActorName>(
  actors: Iterable<A>,
  config: PipelineConfig,
  services: PipelineServices,
): Promise<Pipeline<A>> {
  const names = new Set<PipelineActorName>(actors);
  const { bus, store, db, logger } = services;
  const log = (actor: ActorName) => (logger ? { logger: logger.child({ actor }) } : {});
  const trading = (actor: ActorName) => required(actor, 'its section of the pipeline config', config.trading);
  const gateKey = (actor: ActorName): GateKey => {
    const key = trading(actor).gateKey;
    if (key === undefined) throw new Error('the risk gate and execution need a gate key');
    return key;
  };
  // What every trading actor takes; they read market data through one shared consumer per kind.
  const common = (actor: ActorName) => ({
    bus,
    sharedMarketData: true,
    ...(store ? { store } : {}),
    ...(db ? { db } : {}),
    ...(trading(actor).runId ? { runId: trading(actor).runId } : {}),
    ...log(actor),
  });

  const risk = names.has('risk')
    ? await RiskGateActor.start({
        ...common('risk'),
        account: trading('risk').account,
        core: trading('risk').risk,
        startState: trading('risk').startState,
        gateKey: gateKey('risk'),
        ...(services.gateTerm !== undefined ? { gateTerm: services.gateTerm } : {}),
        ...(services.control ? { control: services.control } : {}),
        ...(services.lastMarketData ? { lastMarketData: services.lastMarketData } : {}),
        ...(services.lastPortfolioSnapshot ? { lastPortfolioSnapshot: services.lastPortfolioSnapshot } : {}),
        ...(services.lastReconciliation ? { lastReconciliation: services.lastReconciliation } : {}),
        ...(trading('risk').denialBurst ? { denialBurst: trading('risk').denialBurst } : {}),
        // Barrier exits read the label settings of the models the signals come from.
        ...(trading('risk').risk.barrierExits
          ? {
              barrierModels: {
                source: required('risk', 'a model source for barrier exits', services.models),
                ...(config.inference ? { strategy: config.inference.strategy } : {}),
              },
            }
          : {}),
      })
    : undefined;
  const execution = names.has('execution')
    ? await ExecutionActor.start({
        ...common('execution'),
        venue: trading('execution').venue,
        ...(trading('execution').broker ? { broker: trading('execution').broker } : {}),
        gateKey: gateKey('execution'),
      })
    : undefined;
  const portfolio = names.has('portfolio')
    ? await PortfolioActor.start({
        ...common('portfolio'),
        account: trading('portfolio').account,
        startingCash: trading('portfolio').startingCash,
        ...(trading('portfolio').markIntervalMs !== undefined
          ? { markIntervalMs: trading('portfolio').markIntervalMs }
          : {}),
      })
    : undefined;
  // One consumer per kind of market data for the trading actors, in the order they were started.
  const marketData: Subscription[] = await subscribeMarketData(
    bus,
    [risk, execution, portfolio].filter((reader) => reader !== undefined),
  );

  const { deadLetterRate: deadLetterRateOptions, ...alertOptions } = config.alerts ?? { sinks: [] };
  const alerts = names.has('alerts')
    ? await AlertActor.start({ bus, ...alertOptions, ...log('alerts') })
    : undefined;
  const deadLetterRate = names.has('alerts')
    ? await DeadLetterRateMonitor.start({ bus, ...deadLetterRateOptions, ...log('alerts') })
    : undefined;

  const models = (actor: ActorName) => required(actor, 'a model source', services.models);
  // Without an active model the inference actor starts anyway and waits, degraded, for one.
  const inference = names.has('inference')
    ? await InferenceActor.start({
        bus,
        models: models('inference'),
        ...required('inference', 'its section of the pipeline config', config.inference),
        ...log('inference'),
      })
    : undefined;
  const news = names.has('news')
    ? await NewsActor.start({ bus, models: models('news'), ...config.news, ...log('news') })
    : undefined;
  const feature = names.has('feature') ? await startFeature(config, services) : undefined;

  // Cast: which entries are present follows from `actors`, which the types cannot follow through `names`.
  return {
    feature,
    inference,
    news,
    risk,
    execution,
    portfolio,
    alerts,
    status: () => ({
      feature: feature?.status(),
      inference: inference?.status(),
      news: news?.status(),
      risk: risk?.status(),
      execution: execution?.status(),
      portfolio: portfolio?.status(),
      alerts: alerts?.status(),
    }),
    stop: async () => {
      await feature?.stop();
      await inference?.stop();
      await news?.stop();
      for (const subscription of marketData) await subscription.drain();
      await risk?.stop();
      await execution?.stop();
      await portfolio?.stop();
      await deadLetterRate?.stop();
      await alerts?.stop();
    },
  } as Pipeline<A>;
}

async function startFeature(
  config: PipelineConfig,
  { bus, db, clock, featureLeases, logger }: PipelineServices,
): Promise<FeatureActor | LeasedFeatureActors> {
  const { partitions, ...feature } = required(
    'feature',
    'its section of the pipeline config',
    config.feature,
  );
  const options = {
    ...feature,
    bus,
    ...(db ? { db } : {}),
    ...(clock ? { clock } : {}),
    ...(logger ? { logger: logger.child({ actor: 'feature' }) } : {}),
  };
  if (featureLeases) {
    return LeasedFeatureActors.start({
      ...options,
      ...featureLeases,
      ...(partitions ? { preferred: partitions } : {}),
    });
  }
  return FeatureActor.start({
    ...options,
    partitions: partitions ?? Array.from({ length: bus.subjects.partitions }, (_, index) => index),
  });
}

function required<T>(actor: ActorName, what: string, value: T | undefined): T {
  if (value === undefined) throw new Error(`the ${actor} actor needs ${what}`);
  return value;
}

export type Trading = Pipeline<(typeof TRADING_ACTORS)[number]>;

/** The trading half alone: risk gate → execution (simulated venue) → portfolio. */
export function startTrading(config: TradingConfig, services: PipelineServices): Promise<Trading> {
  return startPipeline(TRADING_ACTORS, { trading: config }, services);
}

/** The last bar and the last tick of each symbol in the MARKET stream (direct get by subject). */
export function lastMarketDataFromStream(
  manager: JetStreamManager,
  subjects: Subjects,
  symbols: readonly string[],
): () => Promise<(TradeTick | QuoteTick | Bar)[]> {
  const stream = streamName('MARKET', subjects.namespace);
  return async () => {
    const found: (TradeTick | QuoteTick | Bar)[] = [];
    for (const symbol of symbols) {
      for (const subject of [subjects.bar(symbol), subjects.tick(symbol)]) {
        const last = await lastStoredMessage(manager, stream, subject, ['bar', 'trade_tick', 'quote_tick']);
        if (last !== undefined) found.push(last);
      }
    }
    // Oldest first, so the later of a bar and a tick sets the price.
    return found.sort((a, b) => a.ts_event - b.ts_event);
  };
}
