// RiskGateActor: binds RiskGate (machine + core) to the bus. Inputs: signals (sig.>), ticks and bars
// for reference prices and staleness, order events and fills (exec.>), portfolio snapshots (pf.>).
// Outputs: a risk_decision for every signal, an order_intent only on pass, alerts on state changes
// and denial bursts, and every decision as an audit row (stored before the signal is acknowledged).
// Each intent names its pass decision (and the gate's leadership term, under an election) and is
// sealed with the gate key (core/gate-seal.ts): the execution actor refuses any intent without it.
//
// Cancel path (a halt cancels working orders): the gate publishes one control_command
// {command: 'cancel', args: {order_id}} per working order on `ord.cancel.<symbol>`. That subject is
// in the ORDERS stream (ord.>) next to the intents, so the cancel is durable, works on the in-process
// bus too, and the execution actor reads intents and cancels from one consumer in one order: a
// cancel can never overtake the intent it cancels.
//
// Barrier exits (barrier-exits.ts), when the trading config turns them on: the gate reads the label
// settings of each model whose signals it trades from the model source (the registry live, the trained
// models in a backtest) before deciding its first signal, the active model's at start. Its exits go out
// on the same subjects as everything else: the cancels of a closed position's bracket first, then the
// closing intent; a time exit on the symbol's first market event at or after its time limit.
//
// Restart: the gate saves {positions, last fill} with the fill's stream sequence before acking each
// fill, restores them on start, and skips redelivered fills at or below that sequence. The same
// snapshot (risk_state.v2) holds the equity triggers' peak and day start, saved with each portfolio
// snapshot, so a restart resets neither the drawdown nor the daily-loss limit; and with barrier exits
// their open entries and volatility estimators, saved whenever they change before the message that
// changed them (signal, order event, fill, bar, time exit) is acked: a restarted gate sends the time
// exits of the entries it passed before, and its later barriers are those of an uninterrupted run
// (bars redelivered after the ack point are applied once; the bar warmed at start only marks prices).
// Its working orders too (with what of each has filled), saved whenever they change before the
// message that changed them (signal, time exit, order event, fill) is acked, so exposure after a
// restart counts the orders still out: a fill at or below the snapshot's sequence is in them already
// and skipped; a terminal order event applied again changes nothing; a signal redelivered after its
// order was saved is a duplicate.
// It starts in `startState` (reducing or halted) and is released only when the portfolio, at the same
// last fill (its last pf.snapshot at start, or a later one), shows the same positions (reconciled); a
// mismatch raises a critical alert and the gate stays held. It reads only the portfolio's public
// snapshots, never the portfolio's saved state.
//
// The venue too: the execution actor reconciles with its venue at start, after every reconnect and on
// an operator's request, and says so on exec.reconcile.<venue> (reconciliation.v1, in the ORDERS
// stream beside the fills it publishes, so this gate has applied every fill the reconciliation adopted
// before it reads the outcome). While one runs (`reconciling`) or after one that found what it cannot
// explain (`mismatch`), the gate is halted; it is released only when the venue's last reconciliation
// is clean AND its positions agree with the portfolio's. At start it reads the venue's last
// reconciliation from the stream (lastReconciliation), as it reads the portfolio's last snapshot.

import type { Kysely } from 'kysely';
import { ReplayClock } from '../../core/clock.ts';
import { type GateKey, sealIntent } from '../../core/gate-seal.ts';
import { cancelIdFor, orderIdFor } from '../../core/lineage-ids.ts';
import type { Logger } from '../../core/logger.ts';
import type {
  Alert,
  Bar,
  ControlCommand,
  Fill,
  OrderEvent,
  OrderIntent,
  PortfolioSnapshot,
  QuoteTick,
  Reconciliation,
  RiskDecision,
  Signal,
  TradeTick,
} from '../../schemas/messages.ts';
import { type RiskState, snapshotContracts } from '../../schemas/snapshots.ts';
import { symbolToken } from '../../schemas/subjects.ts';
import {
  type ActorBus,
  checkpointAfterStoring,
  type Delivery,
  type Subscription,
} from '../../streams/bus.ts';
import type { NatsConnection } from '../../streams/connection.ts';
import {
  type ControlHandler,
  type ControlResult,
  type ControlServer,
  serveControl,
} from '../../streams/control.ts';
import {
  loadSnapshot,
  type Snapshot,
  type SnapshotStore,
  saveSnapshot,
  snapshotKey,
} from '../../streams/snapshot-store.ts';
import type { BatchWriter } from '../../timescale/batch-writer.ts';
import type { Database } from '../../timescale/database.ts';
import { riskDecisionWriter } from '../../timescale/rows/risk-decisions.ts';
import type { StatefulActor } from '../actor.ts';
import { isTerminal } from '../execution/order.ts';
import type { ModelSource, ModelWatch } from '../inference/registry.ts';
import { type MarketData, type MarketDataReader, subscribeMarketData } from '../market-data.ts';
import { type BarrierExitCounts, modelBarriers } from './barrier-exits.ts';
import {
  FLATTEN_STRATEGY,
  RiskGateCore,
  type RiskGateCoreOptions,
  type TimeExit,
  type TradingState,
} from './core.ts';
import { type GateEffects, type OperatorCommand, RiskGate } from './machine.ts';

/** Alert when this many signals are denied within `windowMs` of event time. */
export interface DenialBurst {
  count: number;
  windowMs: number;
}

export interface RiskGateActorOptions {
  bus: ActorBus;
  /** Portfolio account whose snapshots feed equity and reconciliation. */
  account: string;
  core: Omit<RiskGateCoreOptions, 'clock' | 'tradingState'>;
  /** `active` only for a fresh backtest; live and restarts use `reducing` or `halted` (fail closed). */
  startState: TradingState;
  /** Seals every intent the gate passes; the execution actor holds the same key. */
  gateKey: GateKey;
  /** This gate's leadership term when it runs under an election (streams/leader-election.ts): sealed into its intents. */
  gateTerm?: number;
  /** Without a store (in-process backtests) nothing is snapshotted. */
  store?: SnapshotStore;
  /** Serves ctl.risk.* when given (NATS only; operators' path, never strategies'). */
  control?: NatsConnection;
  db?: Kysely<Database>;
  runId?: string;
  denialBurst?: DenialBurst;
  /**
   * The latest market data per symbol, read once at start, so a restarted gate has reference prices
   * before its market consumers deliver anything new (NATS: last message per subject).
   */
  lastMarketData?: () => Promise<(TradeTick | QuoteTick | Bar)[]>;
  /** The portfolio's last snapshot, read once at start (NATS: the last message on its pf. subject). */
  lastPortfolioSnapshot?: () => Promise<PortfolioSnapshot | undefined>;
  /** The venue's last reconciliation, read once at start (NATS: the last message on exec.reconcile.<venue>). */
  lastReconciliation?: () => Promise<Reconciliation | undefined>;
  /** True when the process hands it market data with other readers (subscribeMarketData). */
  sharedMarketData?: boolean;
  /**
   * Where the label settings of the models behind the signals are read, with barrier exits on
   * (core.barrierExits): each model's manifest by the signal's model_version, and the active model of
   * `strategy` at start and on each activation, so its volatility warms from the first bar.
   */
  barrierModels?: { source: ModelSource; strategy?: string };
  logger?: Logger;
}

export interface RiskGateStatus {
  state: TradingState;
  /** Both the portfolio's positions and the venue's books reconciled. */
  reconciled: boolean;
  portfolioReconciled: boolean;
  /** The venue's last reconciliation, as the execution actor published it. */
  venue: { reconciled: boolean; name?: string; accountMode?: string; outcome?: string; trigger?: string };
  decisions: number;
  passed: number;
  denied: number;
  cancelsSent: number;
  lastEventTs: number;
  workingOrders: number;
  positions: { symbol: string; quantity: number }[];
  /** With barrier exits on: entries sent with and without them, and time exits sent. */
  barrierExits: BarrierExitCounts | undefined;
}

const QUANTITY_EPSILON = 1e-9;

export class RiskGateActor implements StatefulActor<RiskGateStatus, RiskState>, MarketDataReader {
  static readonly snapshotContract = snapshotContracts.risk;
  readonly gate: RiskGate;
  private readonly clock = new ReplayClock();
  private readonly subscriptions: Subscription[] = [];
  private control: ControlServer | undefined;
  private readonly writer: BatchWriter<RiskDecision> | undefined;
  /** Symbols of passed intents still working, for the cancel subject. */
  private readonly orderSymbols = new Map<string, string>();
  private readonly symbols = new Set<string>();
  private lastFillId: string | undefined;
  private restoredSequence = 0;
  /** Stream sequence of the last fill applied: the sequence of every snapshot saved. */
  private fillSequence = 0;
  /** The barrier exits' and the working orders' revisions in the last snapshot saved. */
  private savedBarrierRevision: number | undefined;
  private savedWorkingRevision = 0;
  /** Positions agree with the portfolio's. */
  private reconciled: boolean;
  private venueReconciliation: Reconciliation | undefined;
  private venueReconciled: boolean;
  private mismatchAlerted: string | undefined;
  private denialTimes: number[] = [];
  private readonly counts = { decisions: 0, passed: 0, denied: 0, cancelsSent: 0 };
  /** Models whose manifest could not be read, and when (event time): tried again a bar later. */
  private readonly unreadModels = new Map<string, number>();
  private modelWatch: ModelWatch | undefined;

  private constructor(private readonly options: RiskGateActorOptions) {
    const core = new RiskGateCore({ ...options.core, clock: this.clock });
    this.gate = new RiskGate(core, { startState: options.startState });
    this.reconciled = options.startState === 'active';
    this.venueReconciled = options.startState === 'active';
    this.writer = options.db && decisionWriter(options.db, options.runId ?? 'live', options.logger);
  }

  /**
   * Loads its snapshot, warms prices, subscribes. A refused snapshot (malformed, another version)
   * leaves its positions unknown: it starts halted whatever the configured start state, so nothing
   * passes until its positions reconcile with the portfolio's (they must agree) and the refusal is
   * raised as alert.critical.RISK_SNAPSHOT_REFUSED. Starting afresh as `active` or `reducing` would
   * size and check orders against positions it does not have.
   */
  static async start(options: RiskGateActorOptions): Promise<RiskGateActor> {
    const loaded = await loadSnapshot(
      options.store,
      riskKey(options.account),
      RiskGateActor.snapshotContract,
    );
    const actor = new RiskGateActor(loaded.ok ? options : { ...options, startState: 'halted' });
    await actor.restore(loaded.ok ? loaded.snapshot : undefined);
    await actor.watchActiveModel();
    if (!loaded.ok) {
      await actor.alert(
        'critical',
        'RISK_SNAPSHOT_REFUSED',
        `${loaded.reason}; the risk gate starts halted with no positions`,
        actor.clock.now(),
      );
    }
    await actor.subscribe();
    return actor;
  }

  get snapshotKey(): string {
    return riskKey(this.options.account);
  }

  saveState(): RiskState {
    const barriers = this.gate.core.barrierExits;
    const equity = this.gate.core.equity.state();
    const working = this.gate.core.saveWorking();
    return {
      positions: this.positions(),
      ...(this.lastFillId !== undefined ? { lastFillId: this.lastFillId } : {}),
      ...(equity !== undefined ? { equity } : {}),
      ...(barriers !== undefined ? { barrierExits: barriers.save() } : {}),
      ...(working.orders.length > 0 || working.totals.length > 0 ? { workingOrders: working } : {}),
    };
  }

  /** Saves the state as of the last fill applied, before the message in hand is acked. */
  private async save(): Promise<void> {
    this.savedBarrierRevision = this.gate.core.barrierExits?.revision;
    this.savedWorkingRevision = this.gate.core.workingRevision;
    await saveSnapshot(this.options.store, this.snapshotKey, RiskGateActor.snapshotContract, {
      value: this.saveState(),
      sequence: this.fillSequence,
    });
  }

  /** Saves when the barrier exits or the working orders changed since the last snapshot (never without a store). */
  private changesSaved(): Promise<void> | undefined {
    const core = this.gate.core;
    if (
      this.options.store === undefined ||
      (core.barrierExits?.revision === this.savedBarrierRevision &&
        core.workingRevision === this.savedWorkingRevision)
    )
      return undefined;
    return this.save();
  }

  /**
   * Latest prices, own positions from the last snapshot, then the portfolio's last snapshot: its equity feeds
   * the limits at once, and when it reflects the same last fill the positions are reconciled here.
   */
  private async restore(saved: Snapshot<RiskState> | undefined): Promise<void> {
    // Before the barrier state: the barriers know no window yet, so these bars (the newest, maybe
    // past the consumer's ack point) only mark prices and the volatility is fed in stream order.
    for (const event of (await this.options.lastMarketData?.()) ?? []) this.onMarketData(event);
    if (saved !== undefined) {
      this.gate.core.reconcile(saved.value.positions);
      for (const p of saved.value.positions) this.symbols.add(p.symbol);
      this.lastFillId = saved.value.lastFillId;
      this.restoredSequence = saved.sequence;
      this.fillSequence = saved.sequence;
      // Before any portfolio snapshot (the last one is read below): no check has used equity yet.
      if (saved.value.equity !== undefined) this.gate.core.equity.restore(saved.value.equity);
      this.restoreBarrierExits(saved.value.barrierExits);
      this.restoreWorking(saved.value.workingOrders);
    }
    const reconciliation = await this.options.lastReconciliation?.();
    if (reconciliation !== undefined) await this.onReconciliation(reconciliation);
    const portfolio = await this.options.lastPortfolioSnapshot?.();
    if (portfolio !== undefined) await this.onPortfolio(portfolio);
  }

  /** The working orders back in the book, and cancellable on a halt. */
  private restoreWorking(saved: RiskState['workingOrders']): void {
    if (saved === undefined) return;
    this.gate.core.restoreWorking(saved);
    for (const order of saved.orders) this.orderSymbols.set(order.orderId, order.symbol);
    this.savedWorkingRevision = this.gate.core.workingRevision;
  }

  private restoreBarrierExits(saved: RiskState['barrierExits']): void {
    const barriers = this.gate.core.barrierExits;
    if (saved === undefined) return;
    if (barriers === undefined) {
      this.options.logger?.warn(
        { entries: saved.entries.length },
        'barrier exits are off: the saved entries get no time exits (their brackets still work at the venue)',
      );
      return;
    }
    const notRestored = barriers.restore(saved);
    if (notRestored !== undefined) this.options.logger?.warn({}, `barrier exits: ${notRestored}`);
    this.savedBarrierRevision = barriers.revision;
  }

  /** With barrier exits: the active model's settings now, and each newly activated model's. */
  private async watchActiveModel(): Promise<void> {
    const models = this.options.barrierModels;
    if (this.gate.core.barrierExits === undefined || models?.strategy === undefined) return;
    const active = await models.source.active(models.strategy);
    if (active !== undefined) await this.learnModel(active);
    this.modelWatch = await models.source.watch(models.strategy, (modelId) => void this.learnModel(modelId));
  }

  /**
   * Reads a model's barrier settings from its manifest, once. A manifest that cannot be read is logged
   * and tried again on a signal a bar interval later; meanwhile its entries go without barrier exits.
   */
  private async learnModel(modelId: string): Promise<void> {
    const barriers = this.gate.core.barrierExits;
    const source = this.options.barrierModels?.source;
    if (barriers === undefined || source === undefined || barriers.knows(modelId)) return;
    const now = this.clock.now();
    const failedAt = this.unreadModels.get(modelId);
    if (failedAt !== undefined && now - failedAt < barriers.barIntervalMs) return;
    try {
      const { manifest } = await source.load(modelId);
      barriers.setModel(modelId, modelBarriers(manifest));
      this.unreadModels.delete(modelId);
    } catch (error) {
      this.unreadModels.set(modelId, now);
      this.options.logger?.warn(
        { modelId, err: error },
        'barrier exits: the model manifest could not be read; its entries go without barrier exits',
      );
    }
  }

  private async subscribe(): Promise<void> {
    const { bus } = this.options;
    const { subjects } = bus;
    const ns = subjects.namespace;
    this.subscriptions.push(
      await bus.subscribe({
        durable: 'risk-signals',
        stream: 'SIGNALS',
        filterSubject: `${ns}sig.>`,
        messages: ['signal'],
        handler: (signal) => this.onSignal(signal),
        ...this.checkpoint,
      }),
      await bus.subscribe({
        durable: 'risk-executions',
        stream: 'ORDERS',
        filterSubject: `${ns}exec.>`,
        messages: ['order_event', 'fill', 'reconciliation'],
        handler: (report, delivery) => this.onExecution(report, delivery),
      }),
      await bus.subscribe({
        durable: 'risk-portfolio',
        stream: 'ORDERS',
        filterSubject: subjects.portfolio(this.options.account),
        messages: ['portfolio_snapshot'],
        handler: (snapshot) => this.onPortfolio(snapshot),
      }),
    );
    if (!this.options.sharedMarketData) this.subscriptions.push(...(await subscribeMarketData(bus, [this])));
    if (this.options.control) {
      this.control = serveControl({
        connection: this.options.control,
        subjects,
        actor: 'risk',
        clock: this.clock,
        handlers: this.controlHandlers(),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
      });
    }
  }

  /** ctl.risk.status|halt|resume|reduce; public so a runtime can serve them beside handlers of its own. */
  controlHandlers(): Record<string, ControlHandler> {
    const command = (type: OperatorCommand['type']) => (request: ControlCommand) =>
      this.command({ type, operator: request.operator, reason: request.reason });
    return {
      status: () => ({ ok: true, state: this.gate.state, data: this.status() }),
      halt: command('HALT'),
      resume: command('RESUME'),
      reduce: command('REDUCE'),
    };
  }

  /** An operator command (also what ctl.risk.halt|resume|reduce call). */
  async command(command: OperatorCommand): Promise<ControlResult> {
    const reply = this.gate.command(command);
    await this.apply(reply, this.clock.now());
    return reply.ok
      ? { ok: true, state: reply.state }
      : { ok: false, state: reply.state, error: reply.error ?? 'refused' };
  }

  status(): RiskGateStatus {
    const venue = this.venueReconciliation;
    return {
      state: this.gate.state,
      reconciled: this.reconciled && this.venueReconciled,
      portfolioReconciled: this.reconciled,
      venue: {
        reconciled: this.venueReconciled,
        ...(venue
          ? {
              name: venue.venue,
              accountMode: venue.account_mode,
              outcome: venue.outcome,
              trigger: venue.trigger,
            }
          : {}),
      },
      ...this.counts,
      lastEventTs: this.clock.now(),
      workingOrders: this.gate.core.workingOrderIds().length,
      positions: this.positions(),
      barrierExits: this.gate.core.barrierExits && { ...this.gate.core.barrierExits.counts },
    };
  }

  /**
   * With a database, signals are acknowledged only after their decisions' audit rows are stored (and
   * the decisions published), so a crash cannot lose the row of a decision whose signal was acked;
   * a redelivered signal writes the same row id again, which the writer ignores.
   */
  private get checkpoint(): { checkpoint?: () => Promise<void> } {
    const writer = this.writer;
    return checkpointAfterStoring(this.options.bus, writer && (() => writer.flush()));
  }

  /** Stops taking messages (the one in hand finishes) and writes what is buffered. */
  async stop(): Promise<void> {
    await this.control?.stop();
    this.modelWatch?.stop();
    for (const subscription of this.subscriptions) await subscription.drain();
    await this.writer?.flush();
    this.gate.stop();
  }

  private async onSignal(signal: Signal): Promise<void> {
    this.clock.advanceTo(signal.ts_event);
    const barriers = this.gate.core.barrierExits;
    if (
      barriers !== undefined &&
      signal.direction !== 0 &&
      signal.strategy !== FLATTEN_STRATEGY &&
      !barriers.knows(signal.model_version)
    )
      await this.learnModel(signal.model_version);
    const result = this.gate.evaluate(signal);
    const { decision, intent } = result;
    const { bus } = this.options;
    this.counts.decisions++;
    await bus.publish('risk_decision', bus.subjects.riskDecision(signal.symbol), decision);
    if (intent) {
      this.counts.passed++;
      const reason = `${intent.exit_reason} exit ${intent.id}`;
      await this.sendCancels(result.exitCancels, reason, signal.ts_event, intent.symbol);
      await this.sendIntent(intent, decision.id);
    } else {
      this.counts.denied++;
      await this.trackDenial(decision);
    }
    await this.writer?.add(decision);
    await this.apply(result, signal.ts_event);
    await this.changesSaved();
  }

  /** Seals and publishes a passed intent; its order becomes cancellable on a halt. */
  private async sendIntent(intent: OrderIntent, decisionId: string): Promise<void> {
    const { bus } = this.options;
    this.orderSymbols.set(orderIdFor(intent.id), intent.symbol);
    const pass = { decisionId, gateTerm: this.options.gateTerm };
    const sealed = sealIntent(intent, pass, this.options.gateKey);
    await bus.publish('order_intent', bus.subjects.orderIntent(intent.symbol), sealed);
  }

  readonly marketDataName = 'risk';

  /** Synchronous unless the event set off time exits or moved the barrier volatility (saved then). */
  onMarketData(event: MarketData): Promise<void> | undefined {
    this.clock.advanceTo(event.ts_event);
    const core = this.gate.core;
    if (event.schema === 'bar.v1') core.onBar(event);
    else if (event.schema === 'trade_tick.v1') core.onTrade(event);
    else core.onQuote(event);
    const exits = core.timeExits(event.symbol, event.ts_event);
    if (exits.length > 0) return this.sendTimeExits(event.symbol, exits, event.ts_event);
    return this.changesSaved();
  }

  /**
   * With a database, the time exits' audit rows are stored before the market event that set them off
   * is acknowledged.
   */
  get storeMarketDataRows(): (() => Promise<void>) | undefined {
    const writer = this.writer;
    return writer && this.gate.core.barrierExits && (() => writer.flush());
  }

  private async sendTimeExits(symbol: string, exits: readonly TimeExit[], now: number): Promise<void> {
    const { bus } = this.options;
    for (const { exitCancels, pass } of exits) {
      const reason = pass ? `time exit ${pass.intent.id}` : 'time limit of a closed entry';
      await this.sendCancels(exitCancels, reason, now, symbol);
      if (pass === undefined) continue;
      await bus.publish('risk_decision', bus.subjects.riskDecision(pass.intent.symbol), pass.decision);
      await this.sendIntent(pass.intent, pass.decision.id);
      await this.writer?.add(pass.decision);
    }
    await this.changesSaved();
  }

  private async onExecution(report: OrderEvent | Fill | Reconciliation, delivery: Delivery): Promise<void> {
    if (report.schema === 'reconciliation.v1') return this.onReconciliation(report);
    this.clock.advanceTo(report.ts_event);
    if (report.schema === 'order_event.v1') {
      this.gate.core.onOrderEvent(report);
      if (isTerminal(report.status)) this.orderSymbols.delete(report.order_id);
      return this.changesSaved();
    }
    // Fills at or below the restored sequence are already in the restored positions.
    if (delivery.streamSequence <= this.restoredSequence) return;
    this.gate.core.onFill(report);
    this.symbols.add(report.symbol);
    this.lastFillId = report.id;
    this.fillSequence = delivery.streamSequence;
    await this.save();
  }

  private async onPortfolio(snapshot: PortfolioSnapshot): Promise<void> {
    this.clock.advanceTo(snapshot.ts_event);
    await this.apply(this.gate.onPortfolio(snapshot), snapshot.ts_event);
    if (this.options.store !== undefined) await this.save();
    if (!this.reconciled && snapshot.fill_id === this.lastFillId) await this.reconcileWith(snapshot);
  }

  /** Both sides reflect the same fill ledger prefix here, so their positions must agree. */
  private async reconcileWith(snapshot: PortfolioSnapshot): Promise<void> {
    const theirs = new Map(snapshot.positions.map((p) => [p.symbol, p.quantity]));
    const symbols = new Set([...theirs.keys(), ...this.symbols]);
    const mismatched = [...symbols].filter(
      (symbol) => Math.abs((theirs.get(symbol) ?? 0) - this.gate.core.position(symbol)) > QUANTITY_EPSILON,
    );
    if (mismatched.length === 0) {
      this.reconciled = true;
      if (this.venueReconciled) await this.apply(this.gate.reconciled(), snapshot.ts_event);
      return;
    }
    if (this.mismatchAlerted === snapshot.fill_id) return;
    this.mismatchAlerted = snapshot.fill_id;
    await this.alert(
      'critical',
      'RISK_RECONCILE_MISMATCH',
      `positions differ from portfolio ${snapshot.account} after fill ${snapshot.fill_id ?? 'none'}: ${mismatched.join(', ')}; trading stays ${this.gate.state}`,
      snapshot.ts_event,
    );
  }

  /**
   * The venue's reconciliation (see the header). Its time is the execution actor's wall clock, not
   * event time, so it does not move this gate's clock. A reconciliation older than the one in hand
   * (the last one read at start, then the consumer's backlog) changes nothing.
   */
  private async onReconciliation(reconciliation: Reconciliation): Promise<void> {
    const previous = this.venueReconciliation;
    if (previous !== undefined && reconciliation.ts_event < previous.ts_event) return;
    this.venueReconciliation = reconciliation;
    const now = this.clock.now();
    if (reconciliation.outcome !== 'ok') {
      this.venueReconciled = false;
      await this.apply(this.gate.unreconciled(), now);
      return;
    }
    this.venueReconciled = true;
    if (this.reconciled) await this.apply(this.gate.reconciled(), now);
  }

  /** Publishes what a decision, trigger or command asks for: cancels and a state-change alert. */
  private async apply(effects: GateEffects, now: number): Promise<void> {
    await this.sendCancels(effects.cancels, effects.transition?.cause, now);
    const transition = effects.transition;
    if (transition === undefined) return;
    const severity =
      transition.to === 'halted' ? 'critical' : transition.to === 'reducing' ? 'warning' : 'info';
    await this.alert(
      severity,
      `RISK_${transition.to.toUpperCase()}`,
      `risk gate ${transition.from} → ${transition.to}: ${transition.cause}`,
      now,
    );
  }

  /**
   * One cancel command per order: of `symbol` (a barrier exit's, whose bracket children the gate never
   * booked), or of the symbol the gate booked the order under (skipped when it has ended).
   */
  private async sendCancels(
    orderIds: readonly string[],
    reason: string | undefined,
    now: number,
    symbol?: string,
  ): Promise<void> {
    const { bus } = this.options;
    for (const orderId of orderIds) {
      const subjectSymbol = symbol ?? this.orderSymbols.get(orderId);
      if (subjectSymbol === undefined) continue;
      const cancel: ControlCommand = {
        schema: 'control_command.v1',
        id: cancelIdFor(orderId),
        ts_event: now,
        ts_init: now,
        actor: 'execution',
        command: 'cancel',
        operator: 'risk',
        reason,
        args: { order_id: orderId },
      };
      this.counts.cancelsSent++;
      await bus.publish('control_command', cancelSubject(bus, subjectSymbol), cancel);
    }
  }

  private async trackDenial(decision: RiskDecision): Promise<void> {
    const burst = this.options.denialBurst;
    if (burst === undefined) return;
    const now = decision.ts_event;
    this.denialTimes.push(now);
    this.denialTimes = this.denialTimes.filter((ts) => ts > now - burst.windowMs);
    if (this.denialTimes.length < burst.count) return;
    this.denialTimes = [];
    await this.alert(
      'warning',
      'RISK_DENIAL_BURST',
      `${burst.count} signals denied within ${burst.windowMs} ms; last: ${decision.code} (${decision.reason})`,
      now,
    );
  }

  private async alert(
    severity: Alert['severity'],
    code: string,
    message: string,
    now: number,
  ): Promise<void> {
    const { bus } = this.options;
    const alert: Alert = {
      schema: 'alert.v1',
      id: `risk:${code}:${now}`,
      ts_event: now,
      ts_init: now,
      severity,
      code,
      message,
      source: 'risk',
      dedupe_key: `risk:${code}`,
      labels: { account: this.options.account },
    };
    this.options.logger?.warn({ code, severity }, message);
    await bus.publish('alert', bus.subjects.alert(severity, code), alert);
  }

  private positions(): { symbol: string; quantity: number }[] {
    return [...this.symbols].sort().map((symbol) => ({ symbol, quantity: this.gate.core.position(symbol) }));
  }
}

function riskKey(account: string): string {
  return snapshotKey('risk', account);
}

/** `ord.cancel.<symbol>`: in the ORDERS stream beside the intents (see the header). */
export function cancelSubject(bus: ActorBus, symbol: string): string {
  return `${bus.subjects.namespace}ord.cancel.${symbolToken(symbol)}`;
}

function decisionWriter(db: Kysely<Database>, runId: string, logger: Logger | undefined) {
  return riskDecisionWriter(db, runId, logger ? { logger } : {});
}
