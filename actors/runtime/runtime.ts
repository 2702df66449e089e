// `sluice run`: the live mode. Starts the chosen actors on one NATS connection (all of them, or a
// subset so each kind can run as its own process), serves operator control and the HTTP surface,
// and stops in order on request: control first, then consumers upstream to downstream (each drains
// the message in hand and flushes its database buffers), then the bus, the database and NATS.

import { hostname } from 'node:os';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import { WallClock } from '../../core/clock.ts';
import type { GateKey } from '../../core/gate-seal.ts';
import type { Logger } from '../../core/logger.ts';
import type { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import type { ControlServer } from '../../streams/control.ts';
import { createDatabase, type Database } from '../../timescale/database.ts';
import { migrateToLatest } from '../../timescale/migrate.ts';
import { AlertActor } from '../alerts/actor.ts';
import { DeadLetterRateMonitor } from '../alerts/dead-letter-rate.ts';
import { venueFor } from '../execution/config.ts';
import { FeatureActor } from '../feature/actor.ts';
import { parseDuration } from '../feature/bars.ts';
import { getFeatureSet } from '../feature/feature-set.ts';
import { SharedFeatureActors } from '../feature/shared.ts';
import { InferenceActor } from '../inference/actor.ts';
import { ModelRegistry } from '../inference/registry.ts';
import { LEASE_BUCKET, openLeaseBucket } from '../leader.ts';
import { subscribeMarketData } from '../market-data.ts';
import { NewsActor } from '../news/actor.ts';
import { sizerFor } from '../risk/config.ts';
import { parseRiskLimits } from '../risk/limits.ts';
import { KvSnapshotStore, SNAPSHOT_BUCKET } from '../snapshot-store.ts';
import {
  lastMarketDataFromStream,
  startTradingActor,
  type TradingConfig,
  type TradingServices,
} from '../trading.ts';
import type { ActorName, RunConfig } from './config.ts';
import { type OperatorHttp, type Readiness, startOperatorHttp } from './http.ts';
import { type ActorFlow, type RuntimeMetrics, startMetrics } from './metrics.ts';
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
  logger: Logger;
}

export interface Runtime {
  readonly httpPort: number;
  readiness(): Readiness;
  /** Stops everything in order; safe to call once. */
  stop(): Promise<void>;
}

/** Actors that write rows need the database. */
export const DATABASE_ACTORS: readonly ActorName[] = ['feature', 'risk', 'execution', 'portfolio'];

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, actors, connection, jetstream, manager, subjects, logger } = options;
  const runs = (name: ActorName) => actors.has(name);
  const log = (actor: ActorName) => logger.child({ actor });
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
  const tradingConfig: Omit<TradingConfig, 'gateKey'> = {
    account: trading.account,
    startingCash: trading.startingCash,
    risk: { limits, sizer: sizerFor(trading.sizing) },
    venue: venueFor(trading.venue, config.seed),
    startState: config.startState ?? 'halted',
  };
  const withGateKey = (): TradingConfig => {
    if (options.gateKey === undefined) throw new Error('the risk gate and execution need a gate key');
    return { ...tradingConfig, gateKey: options.gateKey };
  };
  const tradingServices: TradingServices = {
    bus,
    ...(store ? { store } : {}),
    ...(db ? { db } : {}),
    lastMarketData: lastMarketDataFromStream(manager, subjects, Object.keys(limits.instruments ?? {})),
    logger,
  };
  const risk = runs('risk') ? await startTradingActor.risk(withGateKey(), tradingServices) : undefined;
  const execution = runs('execution')
    ? await startTradingActor.execution(withGateKey(), tradingServices)
    : undefined;
  const portfolio = runs('portfolio')
    ? await startTradingActor.portfolio(tradingConfig, tradingServices)
    : undefined;
  const marketData = await subscribeMarketData(
    bus,
    [risk, execution, portfolio].filter((reader) => reader !== undefined),
  );
  const alerts = runs('alerts')
    ? new AlertActor({
        bus,
        sinks: config.alerts?.sinks ?? [],
        ...(config.alerts?.dedupeWindowMs !== undefined
          ? { dedupeWindowMs: config.alerts.dedupeWindowMs }
          : {}),
        logger: log('alerts'),
      })
    : undefined;
  await alerts?.start();
  const deadLetterRate = runs('alerts')
    ? new DeadLetterRateMonitor({ bus, ...config.alerts?.deadLetterRate, logger: log('alerts') })
    : undefined;
  await deadLetterRate?.start();

  const featureSet = getFeatureSet(config.featureSet, '/featureSet');
  const models = runs('inference') || runs('news') ? await ModelRegistry.open(jetstream) : undefined;
  const inference =
    models && runs('inference')
      ? new InferenceActor({
          bus,
          models,
          strategy: config.strategy,
          featureSet,
          ...config.inference,
          idleFlushMs: config.inference?.idleFlushMs ?? 1_000,
          logger: log('inference'),
        })
      : undefined;
  // Without an active model the inference actor waits, degraded, for one to be activated.
  await inference?.start();
  const news =
    models && runs('news')
      ? new NewsActor({
          bus,
          models,
          ...(config.newsModelKey ? { modelKey: config.newsModelKey } : {}),
          logger: log('news'),
        })
      : undefined;
  await news?.start();
  const featureOptions = {
    bus,
    set: featureSet,
    barInterval: config.barInterval,
    ...(db ? { db } : {}),
    ...(config.alerts?.featureRejectionRate ? { rejectionRate: config.alerts.featureRejectionRate } : {}),
    clock,
    logger: log('feature'),
  };
  let features: FeatureActor | SharedFeatureActors | undefined;
  if (runs('feature') && config.featureLeases) {
    const { leaseMs, bucket, standbyDelayMs } = config.featureLeases;
    features = await SharedFeatureActors.start({
      ...featureOptions,
      kv: await openLeaseBucket(jetstream, bucket ?? LEASE_BUCKET, leaseMs),
      holder: `${config.name}@${hostname()}:${process.pid}`,
      leaseMs,
      ...(config.partitions ? { preferred: config.partitions } : {}),
      ...(standbyDelayMs !== undefined ? { standbyDelayMs } : {}),
    });
  } else if (runs('feature')) {
    const actor = new FeatureActor({
      ...featureOptions,
      partitions: config.partitions ?? Array.from({ length: subjects.partitions }, (_, index) => index),
    });
    await actor.start();
    features = actor;
  }

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
    ...(features ? { featureRejections: () => features.rejections() } : {}),
    ...(risk ? { risk: () => risk.status() } : {}),
    ...(portfolio ? { portfolio: () => portfolio.status() } : {}),
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
    if (risk && !risk.status().reconciled) reasons.push('risk gate has not reconciled its positions');
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
      await features?.stop();
      await inference?.stop();
      await news?.stop();
      for (const subscription of marketData) await subscription.drain();
      await risk?.stop();
      await execution?.stop();
      await portfolio?.stop();
      await deadLetterRate?.stop();
      await alerts?.stop();
      await bus.close();
      await metrics.stop();
      await http.close();
      await db?.destroy();
      logger.info('sluice run stopped');
    },
  };
}
