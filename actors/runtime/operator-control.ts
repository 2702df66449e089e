// Control handlers beyond what each actor serves itself: ctl.risk.flatten beside the gate's own
// status/halt/resume/reduce, ctl.portfolio.positions, and ctl.execution.status|orders|positions|
// reconcile (orders and positions: Sluice's beside the venue's; reconcile: one on demand, its
// differences in the reply). Served by the process that runs the actor, through the actors' public
// methods only.
//
// flatten = REDUCE (unless already reducing), then one closing signal per open position on
// sig.flatten.<symbol>. The signals go through the risk gate like any other: in `reducing` it caps
// each order at the position, so nothing can overshoot; how much one signal closes is still up to the
// sizer, so a position larger than one sized order needs another flatten.
import type { Clock } from '../../core/clock.ts';
import { flattenSignalIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type { ControlCommand, Signal } from '../../schemas/messages.ts';
import type { ActorBus } from '../../streams/bus.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import { type ControlResult, type ControlServer, serveControl } from '../../streams/control.ts';
import type { ExecutionActor } from '../execution/actor.ts';
import type { PortfolioActor } from '../portfolio/actor.ts';
import type { RiskGateActor } from '../risk/actor.ts';
import { FLATTEN_STRATEGY } from '../risk/core.ts';

export interface OperatorControlOptions {
  connection: NatsConnection;
  bus: ActorBus;
  clock: Clock;
  risk?: RiskGateActor;
  execution?: ExecutionActor;
  portfolio?: PortfolioActor;
  logger?: Logger;
}

export async function flatten(
  risk: RiskGateActor,
  bus: ActorBus,
  request: ControlCommand,
  now: number,
): Promise<ControlResult> {
  if (risk.status().state !== 'reducing') {
    const reduced = await risk.command({
      type: 'REDUCE',
      operator: request.operator,
      reason: request.reason ?? 'flatten',
    });
    if (!reduced.ok) return reduced;
  }
  const open = risk.status().positions.filter((p) => p.quantity !== 0);
  const signals: Signal[] = open.map((position) => ({
    schema: 'signal.v1',
    id: flattenSignalIdFor(request.id, position.symbol),
    ts_event: now,
    ts_init: now,
    strategy: FLATTEN_STRATEGY,
    symbol: position.symbol,
    model_version: `operator:${request.operator}`,
    direction: position.quantity > 0 ? -1 : 1,
    probability: 1,
    feature_id: request.id,
  }));
  for (const signal of signals) {
    await bus.publish('signal', bus.subjects.signal(FLATTEN_STRATEGY, signal.symbol), signal);
  }
  return {
    ok: true,
    state: risk.status().state,
    data: { closing: open, signals: signals.map((s) => s.id) },
  };
}

/** Serves ctl.risk.*, ctl.portfolio.* and ctl.execution.* for the actors given. */
export function serveOperatorControl(options: OperatorControlOptions): ControlServer[] {
  const { connection, bus, clock, risk, execution, portfolio, logger } = options;
  const common = { connection, subjects: bus.subjects, clock, ...(logger ? { logger } : {}) };
  const servers: ControlServer[] = [];
  if (risk) {
    servers.push(
      serveControl({
        ...common,
        actor: 'risk',
        handlers: {
          ...risk.controlHandlers(),
          flatten: (request) => flatten(risk, bus, request, clock.now()),
        },
      }),
    );
  }
  if (portfolio) {
    servers.push(
      serveControl({
        ...common,
        actor: 'portfolio',
        handlers: { positions: () => ({ ok: true, data: portfolio.status() }) },
      }),
    );
  }
  if (execution) {
    servers.push(
      serveControl({
        ...common,
        actor: 'execution',
        handlers: {
          status: () => ({ ok: true, data: execution.status() }),
          orders: async () => {
            const view = await execution.venueView();
            return {
              ok: true,
              data: {
                ...execution.status(),
                orders: execution.openOrders(),
                sluice: view.sluice,
                venueBooks: view.venueBooks,
              },
            };
          },
          positions: async () => ({ ok: true, data: await execution.venueView() }),
          reconcile: async () => {
            const reconciliation = await execution.reconcile();
            return {
              ok: reconciliation.outcome === 'ok',
              state: reconciliation.outcome,
              data: reconciliation,
              ...(reconciliation.outcome === 'ok'
                ? {}
                : { error: 'the venue does not reconcile: see the differences' }),
            };
          },
        },
      }),
    );
  }
  return servers;
}
