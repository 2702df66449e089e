// Prometheus metrics of a `sluice run` process. Actor counters and gauges are read from the actors'
// status() at scrape time; consumer lag and dead-letter counts are polled from JetStream (one
// request per stream, not per scrape); risk decisions, inference latency and the feed's lag are
// observed on core NATS subscriptions, which see JetStream publishes without taking part in any consumer.
import type { JetStreamManager } from '@nats-io/jetstream';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../../core/logger.ts';
import { type Subjects, streamNames } from '../../schemas/subjects.ts';
import { decodeMessage } from '../../schemas/validate.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import { streamName } from '../../streams/topology.ts';
import type { ExecutionStatus } from '../execution/actor.ts';
import type { FeatureRejections } from '../feature/core.ts';
import type { FeedStatus } from '../feed/actor.ts';
import type { PortfolioStatus } from '../portfolio/actor.ts';
import type { RiskGateStatus } from '../risk/actor.ts';

/** Messages in and out of one actor since start. */
export interface ActorFlow {
  in: number;
  out: number;
}

export interface MetricSources {
  connection: NatsConnection;
  manager: JetStreamManager;
  subjects: Subjects;
  /** Per running actor, its flow counters. */
  flows: () => Record<string, ActorFlow>;
  /** Market messages the feature actor rejected, by symbol and reason (the feature actor runs here). */
  featureRejections?: () => readonly FeatureRejections[];
  risk?: () => RiskGateStatus;
  portfolio?: () => PortfolioStatus;
  /** The feed actor runs here: its counters, and the sink it reports each event's lag to. */
  feed?: { status: () => FeedStatus; lag: FeedLagSink };
  /** The execution actor runs here: its status, and the sink its broker reports round trips to. */
  execution?: { status: () => ExecutionStatus; roundTrip: RoundTripSink };
  /** Observe decisions (the risk gate runs here). */
  watchDecisions: boolean;
  /** Observe feature → signal latency (inference runs here). */
  watchInference: boolean;
  pollIntervalMs: number;
  logger?: Logger;
}

/** Where the feed reports each published event's lag (ms); the metrics fill in `observe`. */
export interface FeedLagSink {
  observe?: (lagMs: number) => void;
}

/** Where the execution actor reports each order's submit → venue acknowledgement (seconds). */
export interface RoundTripSink {
  observe?: (seconds: number) => void;
}

export interface RuntimeMetrics {
  readonly registry: Registry;
  stop(): Promise<void>;
}

const TRADING_STATES = ['active', 'reducing', 'halted'] as const;
const FEED_STATES = [
  'connecting',
  'authenticating',
  'subscribing',
  'streaming',
  'backfilling',
  'stale',
  'reconnecting',
  'stopped',
] as const satisfies readonly FeedStatus['state'][];
/** FeedStatus counters exported as sluice_feed_<name>_total. */
const FEED_COUNTERS = {
  frames: ['framesIn', 'Frames the feed received, live and backfilled'],
  published: ['published', 'Events the feed published that the stream stored as new'],
  duplicates: ['duplicates', 'Events the stream dropped as already held (reconnect and backfill overlap)'],
  reconnects: ['reconnects', 'Connections to the provider lost and made again'],
  backfilled: ['backfilled', 'Frames read over REST to fill a gap'],
  shed: ['shed', 'Frames not read while JetStream was behind (each read again by the backfill)'],
  price_jumps: ['priceJumps', 'Events the integrity check found jumping in price (alerted, still published)'],
  stale_alerts: ['staleAlerts', 'Silences that raised alert.warning.feed_stale'],
  recorded: ['recorded', 'Frames written to the RAW stream'],
} as const satisfies Record<string, readonly [keyof FeedStatus, string]>;
/** Feature ids waiting for their signal; the oldest are forgotten past this. */
const LATENCY_MEMORY = 10_000;

export function startMetrics(sources: MetricSources): RuntimeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { subjects } = sources;
  const ns = subjects.namespace;

  const events = new Counter({
    name: 'sluice_actor_events_total',
    help: 'Messages an actor took in and put out since start',
    labelNames: ['actor', 'direction'],
    registers: [registry],
    collect() {
      events.reset();
      for (const [actor, flow] of Object.entries(sources.flows())) {
        events.inc({ actor, direction: 'in' }, flow.in);
        events.inc({ actor, direction: 'out' }, flow.out);
      }
    },
  });

  // Labelled by reason and symbol only (not message id or partition), so the series are bounded by
  // the symbols traded times three reasons.
  const rejected = new Counter({
    name: 'sluice_feature_rejected_total',
    help: 'Market messages the feature actor rejected (late or out of order, duplicate, invalid), by reason and symbol',
    labelNames: ['reason', 'symbol'],
    registers: [registry],
    collect() {
      rejected.reset();
      for (const { symbol, reason, count } of sources.featureRejections?.() ?? [])
        rejected.inc({ reason, symbol }, count);
    },
  });

  const pending = new Gauge({
    name: 'sluice_consumer_pending',
    help: 'Messages not yet delivered to a durable consumer (num_pending)',
    labelNames: ['stream', 'consumer'],
    registers: [registry],
  });
  const ackPending = new Gauge({
    name: 'sluice_consumer_ack_pending',
    help: 'Messages delivered to a durable consumer and not acknowledged',
    labelNames: ['stream', 'consumer'],
    registers: [registry],
  });
  const deadLetters = new Gauge({
    name: 'sluice_dead_letters',
    help: 'Messages in the dead-letter stream by original subject kind (e.g. md.bar)',
    labelNames: ['kind'],
    registers: [registry],
  });

  const poll = async () => {
    pending.reset();
    ackPending.reset();
    for (const name of streamNames) {
      const stream = streamName(name, ns);
      try {
        for await (const consumer of sources.manager.consumers.list(stream)) {
          const labels = { stream, consumer: consumer.name };
          pending.set(labels, consumer.num_pending);
          ackPending.set(labels, consumer.num_ack_pending);
        }
      } catch {
        // The stream is not there yet; nothing to report for it.
      }
    }
    deadLetters.reset();
    try {
      const info = await sources.manager.streams.info(streamName('DEADLETTER', ns), {
        subjects_filter: '>',
      });
      const prefix = `${ns}dlq.`.length;
      for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
        const kind = subject.slice(prefix).split('.').slice(0, 2).join('.');
        deadLetters.inc({ kind }, count);
      }
    } catch {
      // No dead-letter stream yet.
    }
  };
  let polling = poll().catch(() => undefined);
  const timer = setInterval(() => {
    polling = polling
      .then(poll)
      .catch((error) => sources.logger?.warn({ err: error }, 'metrics poll failed'));
  }, sources.pollIntervalMs);

  if (sources.feed) registerFeedMetrics(registry, sources.feed.status);
  if (sources.execution) registerExecutionMetrics(registry, sources.execution);

  if (sources.risk) {
    const risk = sources.risk;
    const state = new Gauge({
      name: 'sluice_risk_trading_state',
      help: 'Trading state of the risk gate (1 on the current state)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const current = risk().state;
        for (const s of TRADING_STATES) state.set({ state: s }, s === current ? 1 : 0);
      },
    });
    const reconciled = new Gauge({
      name: 'sluice_risk_reconciled',
      help: '1 once the risk gate has reconciled its positions with the portfolio',
      registers: [registry],
      collect() {
        reconciled.set(risk().reconciled ? 1 : 0);
      },
    });
  }

  if (sources.portfolio) {
    const portfolio = sources.portfolio;
    const money = (name: string, help: string, read: (status: PortfolioStatus) => number) => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        labelNames: ['account'],
        registers: [registry],
        collect() {
          const status = portfolio();
          gauge.set({ account: status.account }, read(status));
        },
      });
    };
    money('sluice_portfolio_equity', 'Account equity at last prices', (s) => s.equity);
    money('sluice_portfolio_cash', 'Account cash', (s) => s.cash);
    money('sluice_portfolio_pnl', 'Realized plus unrealized PnL over all positions', (s) =>
      s.positions.reduce((sum, p) => sum + p.realized_pnl + p.unrealized_pnl, 0),
    );
    money('sluice_portfolio_gross_exposure', 'Sum of |position value| at last prices', (s) =>
      s.positions.reduce((sum, p) => sum + Math.abs(p.quantity * p.last_price), 0),
    );
    money('sluice_portfolio_net_exposure', 'Sum of signed position value at last prices', (s) =>
      s.positions.reduce((sum, p) => sum + p.quantity * p.last_price, 0),
    );
  }

  const subscriptions: { unsubscribe(): void }[] = [];
  if (sources.watchDecisions) {
    const decisions = new Counter({
      name: 'sluice_risk_decisions_total',
      help: 'Risk decisions by outcome and code (OK or the denial code)',
      labelNames: ['outcome', 'code'],
      registers: [registry],
    });
    subscriptions.push(
      sources.connection.subscribe(`${ns}risk.decision.>`, {
        callback: (error, message) => {
          if (error) return;
          const decoded = decodeMessage('risk_decision', message.data);
          if (decoded.ok) decisions.inc({ outcome: decoded.value.outcome, code: decoded.value.code });
        },
      }),
    );
  }
  if (sources.watchInference) {
    const latency = new Histogram({
      name: 'sluice_inference_latency_seconds',
      help: 'Wall time from a feature vector on the bus to the signal it caused (batching included)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    const seen = new Map<string, number>();
    subscriptions.push(
      sources.connection.subscribe(`${ns}feat.>`, {
        callback: (error, message) => {
          if (error) return;
          const decoded = decodeMessage('feature_vector', message.data);
          if (!decoded.ok) return;
          seen.set(decoded.value.id, performance.now());
          if (seen.size > LATENCY_MEMORY) {
            const oldest = seen.keys().next().value;
            if (oldest !== undefined) seen.delete(oldest);
          }
        },
      }),
      sources.connection.subscribe(`${ns}sig.>`, {
        callback: (error, message) => {
          if (error) return;
          const decoded = decodeMessage('signal', message.data);
          if (!decoded.ok) return;
          const start = seen.get(decoded.value.feature_id);
          if (start === undefined) return;
          seen.delete(decoded.value.feature_id);
          latency.observe((performance.now() - start) / 1000);
        },
      }),
    );
  }

  if (sources.feed) {
    const { status, lag } = sources.feed;
    const provider = status().provider;
    const histogram = new Histogram({
      name: 'sluice_feed_lag_seconds',
      help: "From an event's ts_event (the provider's time) to its publish by the feed, backfills included",
      labelNames: ['provider'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    lag.observe = (lagMs) => histogram.observe({ provider }, Math.max(0, lagMs) / 1000);
  }

  return {
    registry,
    stop: async () => {
      clearInterval(timer);
      await polling;
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}

/** The feed's counters and state, read from its status() at scrape time. */
function registerFeedMetrics(registry: Registry, status: () => FeedStatus): void {
  for (const [name, [field, help]] of Object.entries(FEED_COUNTERS)) {
    const counter: Counter = new Counter({
      name: `sluice_feed_${name}_total`,
      help,
      labelNames: ['provider'],
      registers: [registry],
      collect() {
        const current = status();
        counter.reset();
        counter.inc({ provider: current.provider }, current[field] as number);
      },
    });
  }
  const rejected: Counter = new Counter({
    name: 'sluice_feed_rejected_total',
    help: 'Frames or events the feed dead-lettered, by reason (unmappable, contract, unrecordable)',
    labelNames: ['provider', 'reason'],
    registers: [registry],
    collect() {
      const current = status();
      rejected.reset();
      for (const [reason, count] of Object.entries(current.rejected)) {
        rejected.inc({ provider: current.provider, reason }, count);
      }
    },
  });
  const state: Gauge = new Gauge({
    name: 'sluice_feed_state',
    help: 'Lifecycle state of the feed (1 on the current state)',
    labelNames: ['provider', 'state'],
    registers: [registry],
    collect() {
      const current = status();
      for (const s of FEED_STATES)
        state.set({ provider: current.provider, state: s }, s === current.state ? 1 : 0);
    },
  });
}

const ACCOUNT_MODES = ['simulated', 'paper', 'live'] as const;

/**
 * The execution actor's venue: its account mode (whose money), the order round trip to the venue,
 * rejects by reason and reconciliation differences by kind (a broker's; the simulated venue has none).
 */
function registerExecutionMetrics(
  registry: Registry,
  { status, roundTrip }: NonNullable<MetricSources['execution']>,
): void {
  const venue = status().venue;
  const mode: Gauge = new Gauge({
    name: 'sluice_execution_account_mode',
    help: 'Whose money the execution actor trades (1 on its account mode: simulated, paper or live)',
    labelNames: ['venue', 'account_mode'],
    registers: [registry],
    collect() {
      const current = status().accountMode;
      for (const accountMode of ACCOUNT_MODES)
        mode.set({ venue, account_mode: accountMode }, accountMode === current ? 1 : 0);
    },
  });
  const connected: Gauge = new Gauge({
    name: 'sluice_execution_broker_connected',
    help: "1 while the broker's update stream is connected (always 1 with the simulated venue)",
    labelNames: ['venue'],
    registers: [registry],
    collect() {
      connected.set({ venue }, status().broker?.connected === false ? 0 : 1);
    },
  });
  const rejects: Counter = new Counter({
    name: 'sluice_order_rejects_total',
    help: 'Orders the venue rejected (or that were given up after retries), by reason',
    labelNames: ['venue', 'reason'],
    registers: [registry],
    collect() {
      rejects.reset();
      for (const [reason, count] of Object.entries(status().broker?.rejects ?? {}))
        rejects.inc({ venue, reason }, count);
    },
  });
  const differences: Counter = new Counter({
    name: 'sluice_reconciliation_differences_total',
    help: "Differences reconciliations found between the venue's books and Sluice's, by kind and resolution (unexplained ones hold the risk gate halted)",
    labelNames: ['venue', 'kind', 'resolution'],
    registers: [registry],
    collect() {
      differences.reset();
      for (const [key, count] of Object.entries(status().broker?.differences ?? {})) {
        const [kind = key, resolution = ''] = key.split(':');
        differences.inc({ venue, kind, resolution }, count);
      }
    },
  });
  const reconciled: Gauge = new Gauge({
    name: 'sluice_execution_reconciled',
    help: "1 when the venue's last reconciliation was clean (always 1 with the simulated venue)",
    labelNames: ['venue'],
    registers: [registry],
    collect() {
      const last = status().broker?.lastReconciliation;
      reconciled.set(
        { venue },
        last === undefined ? (status().broker ? 0 : 1) : last.outcome === 'ok' ? 1 : 0,
      );
    },
  });
  const histogram = new Histogram({
    name: 'sluice_order_roundtrip_seconds',
    help: "From an order's submit to the venue's acknowledgement (through the broker's API, retries apart)",
    labelNames: ['venue'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  roundTrip.observe = (seconds) => histogram.observe({ venue }, Math.max(0, seconds));
}
