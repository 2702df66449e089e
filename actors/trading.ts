// Starts the trading half of the flow on one ActorBus: risk gate → execution (simulated venue) →
// portfolio. The backtest runner passes an InProcessBus and no store (startState `active`); `sluice
// run` passes a NatsActorBus, a KV snapshot store, the NATS connection for ctl.risk.* and a
// database. The same actors and config give the same orders and fills on either bus.
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Kysely } from 'kysely';
import type { GateKey } from '../core/gate-seal.ts';
import type { Logger } from '../core/logger.ts';
import type { Bar, QuoteTick, TradeTick } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { decodeOneOf } from '../schemas/validate.ts';
import type { ActorBus } from '../streams/bus.ts';
import type { NatsConnection } from '../streams/connection.ts';
import { streamName } from '../streams/topology.ts';
import type { Database } from '../timescale/database.ts';
import { ExecutionActor, type ExecutionStatus } from './execution/actor.ts';
import type { SimulatedVenueOptions } from './execution/simulated-venue.ts';
import { subscribeMarketData } from './market-data.ts';
import { PortfolioActor, type PortfolioStatus } from './portfolio/actor.ts';
import { type DenialBurst, RiskGateActor, type RiskGateStatus } from './risk/actor.ts';
import type { RiskGateCoreOptions, TradingState } from './risk/core.ts';
import type { SnapshotStore } from './snapshot-store.ts';

export interface TradingConfig {
  account: string;
  startingCash: number;
  /** Limits, sizer and order style of the risk gate. */
  risk: Omit<RiskGateCoreOptions, 'clock' | 'tradingState'>;
  venue: SimulatedVenueOptions;
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

export interface TradingServices {
  bus: ActorBus;
  store?: SnapshotStore;
  /** Serves ctl.risk.* on this connection. */
  control?: NatsConnection;
  /** Warms the risk gate's reference prices at start (see lastMarketDataFromStream). */
  lastMarketData?: () => Promise<(TradeTick | QuoteTick | Bar)[]>;
  db?: Kysely<Database>;
  logger?: Logger;
  /** The risk gate's leadership term, when these actors run under an election (actors/leader.ts). */
  gateTerm?: number;
}

export interface TradingStatus {
  risk: RiskGateStatus;
  execution: ExecutionStatus;
  portfolio: PortfolioStatus;
}

export interface Trading {
  readonly risk: RiskGateActor;
  readonly execution: ExecutionActor;
  readonly portfolio: PortfolioActor;
  status(): TradingStatus;
  /** Drains every consumer (downstream last) and writes what is buffered. */
  stop(): Promise<void>;
}

/**
 * Starts one trading actor from the shared config and services. The order matters on the in-process
 * bus, which delivers only to handlers already subscribed: risk first (it must hear the portfolio's
 * start snapshot), then execution, then portfolio. startTrading starts all three; `sluice run` starts
 * the ones its process runs, in the same order.
 */
export const startTradingActor = {
  risk: (config: TradingConfig, services: TradingServices): Promise<RiskGateActor> =>
    RiskGateActor.start({
      ...commonOptions(config, services),
      account: config.account,
      core: config.risk,
      startState: config.startState,
      gateKey: config.gateKey,
      ...(services.gateTerm !== undefined ? { gateTerm: services.gateTerm } : {}),
      ...(services.control ? { control: services.control } : {}),
      ...(services.lastMarketData ? { lastMarketData: services.lastMarketData } : {}),
      ...(config.denialBurst ? { denialBurst: config.denialBurst } : {}),
      ...(services.logger ? { logger: services.logger.child({ actor: 'risk' }) } : {}),
    }),
  execution: (config: TradingConfig, services: TradingServices): Promise<ExecutionActor> =>
    ExecutionActor.start({
      ...commonOptions(config, services),
      venue: config.venue,
      gateKey: config.gateKey,
      ...(services.logger ? { logger: services.logger.child({ actor: 'execution' }) } : {}),
    }),
  portfolio: (config: Omit<TradingConfig, 'gateKey'>, services: TradingServices): Promise<PortfolioActor> =>
    PortfolioActor.start({
      ...commonOptions(config, services),
      account: config.account,
      startingCash: config.startingCash,
      ...(config.markIntervalMs !== undefined ? { markIntervalMs: config.markIntervalMs } : {}),
      ...(services.logger ? { logger: services.logger.child({ actor: 'portfolio' }) } : {}),
    }),
};

/** What every trading actor takes; they read market data through one shared consumer per kind. */
function commonOptions(config: Pick<TradingConfig, 'runId'>, { bus, store, db }: TradingServices) {
  return {
    bus,
    sharedMarketData: true,
    ...(store ? { store } : {}),
    ...(db ? { db } : {}),
    ...(config.runId ? { runId: config.runId } : {}),
  };
}

export async function startTrading(config: TradingConfig, services: TradingServices): Promise<Trading> {
  const risk = await startTradingActor.risk(config, services);
  const execution = await startTradingActor.execution(config, services);
  const portfolio = await startTradingActor.portfolio(config, services);
  // One consumer per kind of market data for the three, in the order they were started.
  const marketData = await subscribeMarketData(services.bus, [risk, execution, portfolio]);
  return {
    risk,
    execution,
    portfolio,
    status: () => ({ risk: risk.status(), execution: execution.status(), portfolio: portfolio.status() }),
    stop: async () => {
      for (const subscription of marketData) await subscription.drain();
      await risk.stop();
      await execution.stop();
      await portfolio.stop();
    },
  };
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
        const stored = await manager.streams.getMessage(stream, { last_by_subj: subject });
        if (stored === null) continue;
        const decoded = decodeOneOf(['bar', 'trade_tick', 'quote_tick'], stored.data);
        if (decoded.ok) found.push(decoded.value);
      }
    }
    // Oldest first, so the later of a bar and a tick sets the price.
    return found.sort((a, b) => a.ts_event - b.ts_event);
  };
}
