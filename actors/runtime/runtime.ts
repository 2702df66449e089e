// `sluice run`: the live mode. Starts the chosen actors on one NATS connection (all of them, or a
// subset so each kind can run as its own process), serves operator control and the HTTP surface,
// and stops in order on request: control first, then consumers upstream to downstream (each drains
// the message in hand and flushes its database buffers), then the bus, the database and NATS.

import { hostname } from 'node:os';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import { type Clock, WallClock } from '../../core/clock.ts';
import type { GateKey } from '../../core/gate-seal.ts';
import type { Logger } from '../../core/logger.ts';
import { type RandomSource, SeededRandom } from '../../core/random.ts';
import type { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import type { ControlServer } from '../../streams/control.ts';
import { lastPortfolioSnapshotFromStream, lastReconciliationFromStream } from '../../streams/last-message.ts';
import { LEASE_BUCKET, openLeaseBucket } from '../../streams/leader-election.ts';
import { KvSnapshotStore, SNAPSHOT_BUCKET } from '../../streams/snapshot-store.ts';
import { createDatabase, type Database } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import type { BrokerOptions } from '../execution/actor.ts';
import type { LiveBroker } from '../execution/broker-adapter.ts';
import { brokerRefusalAsConfigError } from '../execution/brokers/index.ts';
import { executionVenueName, venueFor } from '../execution/config.ts';
import { DEFAULT_RETRY, realSleep, retrying } from '../execution/venue-retry.ts';
import { parseDuration } from '../feature/bars.ts';
import { getFeatureSet } from '../feature/feature-set.ts';
import { FeedActor } from '../feed/actor.ts';
import type { FeedAdapter } from '../feed/adapter.ts';
import { refusalAsConfigError } from '../feed/adapters/index.ts';
import { assetClassOfProvider, FeedIntegrity, priceJumpAlerts } from '../feed/integrity.ts';
import { ModelRegistry } from '../inference/registry.ts';
import {
  lastMarketDataFromStream,
  type PipelineActorName,
  type PipelineConfig,
  startPipeline,
} from '../pipeline.ts';
import { sizerFor } from '../risk/config.ts';
import { parseRiskLimits } from '../risk/limits.ts';
import { mergeVenueRules, type VenueRules } from '../risk/venue-rules.ts';
import type { ActorName, RunConfig } from './config.ts';
import { type OperatorHttp, type Readiness, startOperatorHttp } from './http.ts';
import {
  type ActorFlow,
  type FeedLagSink,
  type RoundTripSink,
  type RuntimeMetrics,
  startMetrics,
} from './metrics.ts';
import { serveOperatorControl } from './operator-control.ts';
import { StuckConsumerWatch } from './stuck-consumers.ts';

export interface RuntimeOptions {
  config: RunConfig;
  actors: ReadonlySet<ActorName>;
  connection: NatsConnection;
  jetstream: JetStreamClient;
  manager: JetStreamManager;
  subjects: Subjects;
  databaseUrl: string;
  /** The risk gate's seal key (gateKeyFor): present whenever risk or execution runs. */
  gateKey?: GateKey;
  /** The provider's adapter (createFeedAdapter of the config's feed section) when the feed runs. */
  feedAdapter?: FeedAdapter;
  /** The broker trading.broker names (createLiveBroker), not yet connected, when execution runs there. */
  broker?: LiveBroker;
  logger: Logger;
}

export interface Runtime {
  readonly httpPort: number;
  readiness(): Readiness;
  /** Stops everything in order; safe to call once. */
  stop(): Promise<void>;
}

/** What a feed is asked to do: the run config's `feed` section, or `sluice feed`'s flags. */
export type FeedSettings = Omit<NonNullable<RunConfig['feed']>, 'provider'>;

/**
 * A FeedActor on `adapter` as `sluice feed` and `sluice run` start it: price jumps checked by the
 * provider's asset class (crypto for ccxt, equities otherwise), silence judged in that market's
 * sessions, and a refused login or subscription as a ConfigError (one line, exit 2).
 */
export function startFeedActor(
  adapter: FeedAdapter,
  settings: FeedSettings,
  services: {
    jetstream: JetStreamClient;
    subjects: Subjects;
    clock: Clock;
    random: RandomSource;
    logger: Logger;
    /** Each published event's lag in ms (the /metrics histogram). */
    onPublished?: (lagMs: number) => void;
  },
): Promise<FeedActor> {
  const { symbols, channels, record, staleAfterMs, reconnect, maxQueuedFrames } = settings;
  const integrity = new FeedIntegrity({
    defaultClass: assetClassOfProvider(adapter.provider),
    ...(staleAfterMs !== undefined ? { staleAfterMs } : {}),
  });
  integrity.watch(symbols, services.clock.now());
  return FeedActor.start({
    adapter,
    jetstream: services.jetstream,
    subjects: services.subjects,
    symbols,
    channels,
    clock: services.clock,
    random: services.random,
    integrity: priceJumpAlerts(integrity),
    isTradingTime: (ms) => integrity.isTradingTime(ms),
    ...(services.onPublished ? { onPublished: services.onPublished } : {}),
    ...(record !== undefined ? { record } : {}),
    ...(staleAfterMs !== undefined ? { staleAfterMs } : {}),
    ...(reconnect ? { reconnect } : {}),
    ...(maxQueuedFrames !== undefined ? { maxQueuedFrames } : {}),
    logger: services.logger,
  }).catch((error: unknown) => {
    throw refusalAsConfigError(error);
  });
}

/**
 * The gate's instrument rules when it trades at `broker`: the venue's (for the configured symbols and
 * every instrument the limits know) merged under the config's, so every order it sizes is one the venue
 * takes. Each configured rule the venue overrides is logged once; unreachable venue: retried as a connect
 * is, then the run does not start (its orders could be sized to rules the venue refuses).
 */
async function gateVenueRules(
  broker: LiveBroker,
  configured: VenueRules,
  instruments: readonly string[],
  logger: Logger,
): Promise<VenueRules> {
  const load = broker.venueRules?.bind(broker);
  if (!load) return configured;
  const symbols = [...new Set([...Object.keys(configured), ...instruments])].sort();
  const venue = await retrying(DEFAULT_RETRY, realSleep, () => load(symbols));
  const { rules, replaced } = mergeVenueRules(configured, venue);
  for (const { symbol, rule, configured: mine, venue: theirs } of replaced) {
    logger.warn(
      { symbol, rule, configured: mine, venue: theirs },
      `trading.venueRules.${symbol}.${rule} ${mine} is looser than ${broker.venue}'s ${theirs}: using the venue's`,
    );
  }
  logger.info(
    { venue: broker.venue, symbols: Object.keys(venue) },
    `instrument rules of ${Object.keys(venue).length} symbol(s) from ${broker.venue}`,
  );
  return rules;
}

/** Actors that write rows need the database. */
export const DATABASE_ACTORS: readonly ActorName[] = ['feature', 'risk', 'execution', 'portfolio'];

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, actors, connection, jetstream, manager, subjects, logger } = options;
  const runs = (name: ActorName) => actors.has(name);
  const clock = new WallClock();
  let natsConnected = true;
  void (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') natsConnected = false;
      if (status.type === 'reconnect') natsConnected = true;
    }
  })();

  let db: Kysely<Database> | undefined;
  let migrated = false;
  if (DATABASE_ACTORS.some(runs)) {
    db = createDatabase(options.databaseUrl, { applicationName: `sluice-run-${config.name}` });
    // The configured bar interval sizes the TimescaleDB chunks of bars, features and what follows them.
    await migrateToLatest(db, logger, { barIntervalMs: parseDuration(config.barInterval, 'barInterval') });
    migrated = true;
  }
  // Live: a message stamped too far ahead of this process's clock is dead-lettered (streams/admission.ts).
  const bus = new NatsActorBus(jetstream, manager, subjects, logger, {
    admission: { ...config.admission, receivingClock: clock },
  });
  const needsStore = runs('risk') || runs('execution') || runs('portfolio');
  const store = needsStore
    ? await KvSnapshotStore.open(jetstream, config.snapshotBucket ?? SNAPSHOT_BUCKET)
    : undefined;
  const { trading } = config;
  const limits = parseRiskLimits(trading.limits, '/trading/limits');
  const venueName = executionVenueName(trading.broker);
  // Filled in by the metrics once they run; the broker reports each acknowledgement from its first.
  const roundTrip: RoundTripSink = {};
  const broker: BrokerOptions | undefined =
    options.broker && trading.broker && trading.broker.kind !== 'simulated'
      ? {
          broker: options.broker,
          venue: venueName,
          unknownOrders: trading.broker.unknownOrders ?? 'halt',
          clock,
          onAcknowledged: (seconds) => roundTrip.observe?.(seconds),
        }
      : undefined;
  // A refusal of the credentials names the live or the paper variables.
  const brokerRefusal = (error: unknown) =>
    brokerRefusalAsConfigError(error, trading.broker?.kind !== 'simulated' && trading.broker?.live === true);
  const venueRules =
    runs('risk') && options.broker
      ? await gateVenueRules(
          options.broker,
          trading.venueRules ?? {},
          Object.keys(limits.instruments ?? {}),
          logger,
        ).catch((error: unknown) => {
          throw brokerRefusal(error);
        })
      : trading.venueRules;
  const featureSet = getFeatureSet(config.featureSet, '/featureSet');
  const pipelineConfig: PipelineConfig = {
    feature: {
      set: featureSet,
      barInterval: config.barInterval,
      ...(config.partitions ? { partitions: config.partitions } : {}),
      ...(config.alerts?.featureRejectionRate ? { rejectionRate: config.alerts.featureRejectionRate } : {}),
    },
    inference: {
      strategy: config.strategy,
      featureSet,
      ...config.inference,
      idleFlushMs: config.inference?.idleFlushMs ?? 1_000,
    },
    news: config.newsModelKey ? { modelKey: config.newsModelKey } : {},
    trading: {
      account: trading.account,
      startingCash: trading.startingCash,
      risk: {
        limits,
        sizer: sizerFor(trading.sizing),
        ...(venueRules ? { venueRules } : {}),
        ...(trading.barrierExits ? { barrierExits: { barInterval: config.barInterval } } : {}),
      },
      venue: venueFor(trading.venue, config.seed),
      ...(broker ? { broker } : {}),
      startState: config.startState ?? 'halted',
      ...(options.gateKey ? { gateKey: options.gateKey } : {}),
    },
    alerts: {
      sinks: config.alerts?.sinks ?? [],
      ...(config.alerts?.dedupeWindowMs !== undefined
        ? { dedupeWindowMs: config.alerts.dedupeWindowMs }
        : {}),
      ...(config.alerts?.deadLetterRate ? { deadLetterRate: config.alerts.deadLetterRate } : {}),
    },
  };
  const leases = runs('feature') ? config.featureLeases : undefined;
  const pipelineActors = [...actors].filter((name): name is PipelineActorName => name !== 'feed');
  const pipeline = await startPipeline(pipelineActors, pipelineConfig, {
    // With execution here, its reconciliation at start is the one to wait for, not its last run's.
    ...(runs('execution')
      ? {}
      : { lastReconciliation: lastReconciliationFromStream(manager, subjects, venueName) }),
    bus,
    clock,
    ...(runs('inference') || runs('news') || (runs('risk') && trading.barrierExits)
      ? { models: await ModelRegistry.open(jetstream) }
      : {}),
    ...(store ? { store } : {}),
    ...(db ? { db } : {}),
    lastMarketData: lastMarketDataFromStream(manager, subjects, Object.keys(limits.instruments ?? {})),
    lastPortfolioSnapshot: lastPortfolioSnapshotFromStream(manager, subjects, trading.account),
    ...(leases
      ? {
          featureLeases: {
            kv: await openLeaseBucket(jetstream, leases.bucket ?? LEASE_BUCKET, leases.leaseMs),
            holder: `${config.name}@${hostname()}:${process.pid}`,
            leaseMs: leases.leaseMs,
            ...(leases.standbyDelayMs !== undefined ? { standbyDelayMs: leases.standbyDelayMs } : {}),
          },
        }
      : {}),
    logger,
  }).catch((error: unknown) => {
    throw brokerRefusal(error);
  });
  const { feature: features, inference, news, risk, execution, portfolio, alerts } = pipeline;
  // The lag histogram lives in the metrics registry, made once the actors run: the feed reports to it
  // through this holder from its first event on.
  const feedLag: FeedLagSink = {};
  // Started last: what it publishes finds the consumers of this process already there.
  const feed =
    runs('feed') && config.feed && options.feedAdapter
      ? await startFeedActor(options.feedAdapter, config.feed, {
          jetstream,
          subjects,
          clock,
          // Only the reconnect jitter: nothing published depends on it.
          random: new SeededRandom(config.seed),
          logger: logger.child({ actor: 'feed' }),
          onPublished: (lagMs) => feedLag.observe?.(lagMs),
        })
      : undefined;

  const control: ControlServer[] = serveOperatorControl({
    connection,
    bus,
    clock,
    ...(risk ? { risk } : {}),
    ...(execution ? { execution } : {}),
    ...(portfolio ? { portfolio } : {}),
    logger,
  });

  const flows = (): Record<string, ActorFlow> => {
    const flow: Record<string, ActorFlow> = {};
    if (feed) {
      const status = feed.status();
      flow.feed = { in: status.framesIn, out: status.published };
    }
    if (features) {
      const { counters, published } = features.status();
      flow.feature = {
        in: counters.bars + counters.ticks + counters.news + counters.sentiment,
        out: published,
      };
    }
    if (inference) {
      const { counters } = inference.status();
      flow.inference = { in: counters.vectors, out: counters.signals };
    }
    if (news) flow.news = { in: news.counters.scored, out: news.counters.scored };
    if (risk) {
      const status = risk.status();
      flow.risk = { in: status.decisions, out: status.decisions + status.passed + status.cancelsSent };
    }
    if (execution) {
      const status = execution.status();
      flow.execution = { in: status.submitted + status.cancels, out: status.reports };
    }
    if (portfolio) {
      const status = portfolio.status();
      flow.portfolio = { in: status.fillsApplied, out: status.snapshotsPublished };
    }
    if (alerts) {
      const status = alerts.status();
      flow.alerts = { in: status.received, out: status.sinks.reduce((sum, sink) => sum + sink.delivered, 0) };
    }
    return flow;
  };
  const metrics: RuntimeMetrics = startMetrics({
    connection,
    manager,
    subjects,
    flows,
    ...(feed ? { feed: { status: () => feed.status(), lag: feedLag } } : {}),
    ...(features ? { featureRejections: () => features.rejections() } : {}),
    ...(risk ? { risk: () => risk.status() } : {}),
    ...(portfolio ? { portfolio: () => portfolio.status() } : {}),
    ...(execution ? { execution: { status: () => execution.status(), roundTrip } } : {}),
    watchDecisions: risk !== undefined,
    watchInference: inference !== undefined,
    pollIntervalMs: config.metrics?.pollIntervalMs ?? 5_000,
    logger,
  });

  const stuck = new StuckConsumerWatch({
    blocked: (now) => bus.blockedConsumers(now),
    stuckAfterMs: config.stuckAfterMs ?? 60_000,
    publishAlert: (alert) => bus.publish('alert', subjects.alert(alert.severity, alert.code), alert),
    clock,
    registry: metrics.registry,
    logger,
  });

  const readiness = (): Readiness => {
    const reasons: string[] = [...stuck.reasons()];
    if (connection.isClosed() || !natsConnected) reasons.push('NATS is not connected');
    if (db && !migrated) reasons.push('database is not migrated');
    const gate = risk?.status();
    if (gate && !gate.portfolioReconciled) reasons.push('risk gate has not reconciled its positions');
    if (gate && !gate.venue.reconciled) {
      reasons.push(`the venue has not reconciled (${gate.venue.outcome ?? 'no reconciliation yet'})`);
    }
    const feedStatus = feed?.status();
    if (feedStatus?.state === 'stopped') {
      reasons.push(`feed ${feedStatus.provider} stopped: ${feedStatus.lastError ?? 'refused'}`);
    } else if (feedStatus?.state === 'reconnecting' || feedStatus?.state === 'connecting') {
      reasons.push(
        `feed ${feedStatus.provider} is ${feedStatus.state}: ${feedStatus.lastError ?? 'no connection yet'}`,
      );
    }
    return { ready: reasons.length === 0, reasons };
  };
  const http: OperatorHttp = await startOperatorHttp({
    port: config.http.port,
    ...(config.http.host ? { host: config.http.host } : {}),
    readiness,
    registry: metrics.registry,
  });
  logger.info({ actors: [...actors], port: http.port }, 'sluice run started');

  return {
    httpPort: http.port,
    readiness,
    stop: async () => {
      stuck.stop();
      for (const server of control) await server.stop();
      // Upstream first: the feed's last frames are published before the consumers drain.
      await feed?.stop();
      await pipeline.stop();
      await bus.close();
      await metrics.stop();
      await http.close();
      await db?.destroy();
      logger.info('sluice run stopped');
    },
  };
}
