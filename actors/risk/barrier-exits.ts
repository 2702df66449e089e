// Barrier exits: a position the risk gate opens for a model trained on triple-barrier labels gets the
// exits those labels assumed (core/triple-barrier.ts), so a live position ends as a training sample did:
// a take-profit and a stop-loss at the model's multiples of the volatility at entry (a bracket on the
// entry, worked at the venue as one-cancels-other) and a time exit `verticalBars` bars after entry,
// which the gate itself sends as a closing market order (intent.exit_after).
//
// The volatility is the labels' own estimator (core/volatility.ts) over the closes of the bars of the
// configured interval, one rolling window per symbol and window length, updated as each bar closes.
// A label measures from the close of the bar its sample starts at, with the volatility as of that
// close: so do the exits, from the bar the signal was computed on (its ts_event), also when the gate
// has already seen the next bar (inference closes a micro-batch on the next bar's first row).
// An entry gets no bracket (a plain entry, with the reason in its decision) when the model that sent the
// signal has no triple-barrier settings, when the symbol has fewer than `volatilityWindow` returns
// yet, or when the barriers do not fit the venue's tick.
//
// This keeps, per bracketed entry, what its exits need: the entry's fills, what its children closed,
// and its time limit. Everything is in event time; nothing here reads a clock.
//
// All of it survives a restart (save/restore, in the gate's risk_state.v2): the open entries, so their
// time exits still go out, and the volatility estimators with their running sums, so the barriers of
// later entries are the ones an uninterrupted run gives (re-warming from recent bars would round the
// sums differently, and needs bars the stream may no longer hold). `revision` says when to save.
import { bracketChildIdFor } from '../../core/lineage-ids.ts';
import { barrierPrices, type TripleBarrierConfig } from '../../core/triple-barrier.ts';
import { RollingVolatility } from '../../core/volatility.ts';
import type { Bar, Fill, OrderEvent, OrderIntent } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import type { BarrierExitsState } from '../../schemas/snapshots.ts';
import { isTerminal } from '../execution/order.ts';
import { parseDuration } from '../feature/bars.ts';
import type { Side } from './book.ts';
import { roundPriceToTick } from './venue-rules.ts';

export interface BarrierExitOptions {
  /**
   * The bar interval the models were trained on (the config's barInterval, e.g. '1d'): bars of it feed
   * the volatility, and `verticalBars` of it after entry is the time limit.
   */
  barInterval: string;
}

export type Bracket = NonNullable<OrderIntent['bracket']>;

/** The exits of one entry, or why it has none. */
export type EntryExits =
  | {
      bracket: Bracket;
      exitAfter: number;
      /** The close the barriers are measured from, and the volatility as of it. */
      reference: number;
      volatility: number;
      labels: TripleBarrierConfig;
    }
  | { bracket: undefined; reason: string };

/** One bracketed entry the gate passed, until its position is closed. */
export interface BarrierEntry {
  readonly orderId: string;
  readonly symbol: string;
  /** The entry's side; its exits take the other side. */
  readonly side: Side;
  readonly signalId: string;
  readonly strategy: string;
  readonly exitAfter: number;
  /** The take-profit and stop-loss children the venue works once the entry fills. */
  readonly children: readonly [string, string];
  /** Quantity the entry has filled. */
  filled: number;
  /** Quantity its children have closed. */
  closed: number;
  /** The entry order has ended (filled, cancelled…): no more fills will open more. */
  entryDone: boolean;
}

export interface BarrierExitCounts {
  /** Entries sent with a bracket and a time limit. */
  bracketed: number;
  /** Entries sent without one, because of `lastPlainReason` or another reason. */
  plain: number;
  lastPlainReason: string | undefined;
  /** Closing orders the gate sent at a time limit. */
  timeExits: number;
}

/** What a model's manifest says about barrier exits: its settings, or why it has none. */
export type ModelBarriers = { labels: TripleBarrierConfig } | { labels: undefined; reason: string };

export function modelBarriers(manifest: ModelManifest): ModelBarriers {
  const labels = manifest.labels;
  if (labels.kind !== 'triple-barrier')
    return {
      labels: undefined,
      reason: `model ${manifest.modelId} was not trained on triple-barrier labels`,
    };
  if (labels.volatilityWindow < 2)
    return {
      labels: undefined,
      reason: `model ${manifest.modelId} has a volatility window of ${labels.volatilityWindow} bars; a standard deviation needs at least 2 returns`,
    };
  const { profitTake, stopLoss, verticalBars, volatilityWindow } = labels;
  return { labels: { profitTake, stopLoss, verticalBars, volatilityWindow } };
}

/** One window length's estimator of a symbol, and its value as of the bar before the last. */
interface WindowVolatility {
  readonly estimator: RollingVolatility;
  previous: number;
}

/** A symbol's last two bars (their close times and closes) and the volatility as of each. */
interface SymbolVolatility {
  lastBarTs: number;
  lastClose: number;
  previousBarTs: number;
  previousClose: number;
  readonly byWindow: Map<number, WindowVolatility>;
}

export class BarrierExits {
  readonly barInterval: string;
  readonly barIntervalMs: number;
  readonly counts: BarrierExitCounts = { bracketed: 0, plain: 0, lastPlainReason: undefined, timeExits: 0 };
  private readonly models = new Map<string, ModelBarriers>();
  /** Window lengths of the models known so far: each symbol keeps one estimator per length. */
  private readonly windows = new Set<number>();
  private readonly volatility = new Map<string, SymbolVolatility>();
  /** Open bracketed entries per symbol, oldest first. */
  private readonly open = new Map<string, BarrierEntry[]>();
  /** Entries by their entry order id and by each child's id. */
  private readonly byOrder = new Map<string, BarrierEntry>();
  private changes = 0;

  constructor(options: BarrierExitOptions) {
    this.barInterval = options.barInterval;
    this.barIntervalMs = parseDuration(options.barInterval, 'barInterval');
  }

  /** Grows whenever what save() returns changes: the gate saves its snapshot when it moved. */
  get revision(): number {
    return this.changes;
  }

  /** Whether the barriers of `modelId` are known (settings or the reason it has none). */
  knows(modelId: string): boolean {
    return this.models.has(modelId);
  }

  /**
   * The barrier settings of a model. A window length seen for the first time starts its estimators
   * now, so a model whose window no earlier model had sends plain entries until it has filled.
   */
  setModel(modelId: string, barriers: ModelBarriers): void {
    this.models.set(modelId, barriers);
    const window = barriers.labels?.volatilityWindow;
    if (window === undefined || this.windows.has(window)) return;
    this.windows.add(window);
    this.changes++;
  }

  /** A bar close: bars of the configured interval, in event-time order per symbol, feed the volatility. */
  onBar(bar: Bar): void {
    if (bar.interval !== this.barInterval || this.windows.size === 0) return;
    let state = this.volatility.get(bar.symbol);
    if (state === undefined) {
      state = {
        lastBarTs: Number.NEGATIVE_INFINITY,
        lastClose: Number.NaN,
        previousBarTs: Number.NEGATIVE_INFINITY,
        previousClose: Number.NaN,
        byWindow: new Map(),
      };
      this.volatility.set(bar.symbol, state);
    }
    // A bar redelivered or out of order would count a return twice or backwards.
    if (bar.ts_event <= state.lastBarTs) return;
    this.changes++;
    state.previousBarTs = state.lastBarTs;
    state.previousClose = state.lastClose;
    state.lastBarTs = bar.ts_event;
    state.lastClose = bar.close;
    for (const window of this.windows) {
      let volatility = state.byWindow.get(window);
      if (volatility === undefined) {
        volatility = { estimator: new RollingVolatility(window), previous: Number.NaN };
        state.byWindow.set(window, volatility);
      }
      volatility.previous = volatility.estimator.value;
      volatility.estimator.push(bar.close);
    }
  }

  /**
   * The exits of an entry on `side` signalled by `modelId` on the bar that closed at `signalTs`:
   * barriers around that bar's close with the volatility as of it, as the labels have them. Prices
   * are on the venue's tick when it has one, rounded never more aggressively than the barrier: toward
   * the far side for the take-profit, toward the entry for the stop.
   */
  exitsFor(
    modelId: string,
    symbol: string,
    side: Side,
    signalTs: number,
    tickSize: number | undefined,
  ): EntryExits {
    const model = this.models.get(modelId);
    if (model === undefined) return this.plain(`no label settings known for model ${modelId}`);
    if (model.labels === undefined) return this.plain(model.reason);
    const labels = model.labels;
    const window = labels.volatilityWindow;
    const state = this.volatility.get(symbol);
    if (state === undefined) return this.plain(`no ${this.barInterval} bars of ${symbol} yet`);
    const latest = state.lastBarTs <= signalTs;
    if (!latest && state.previousBarTs > signalTs)
      return this.plain(`the signal's bar is older than the last two ${this.barInterval} bars of ${symbol}`);
    const estimator = state.byWindow.get(window);
    const volatility = (latest ? estimator?.estimator.value : estimator?.previous) ?? Number.NaN;
    const reference = latest ? state.lastClose : state.previousClose;
    if (!(volatility > 0)) {
      const have = estimator === undefined ? 0 : window - estimator.estimator.missing - (latest ? 0 : 1);
      return this.plain(
        have < window
          ? `volatility of ${symbol} needs ${window} returns of ${this.barInterval} bars, has ${Math.max(0, have)}`
          : `volatility of ${symbol} over ${window} ${this.barInterval} bars is 0: no scale for the barriers`,
      );
    }
    const { upper, lower } = barrierPrices(labels, volatility, reference);
    const exitSide: Side = side === 'buy' ? 'sell' : 'buy';
    const onTick = (price: number) =>
      tickSize === undefined ? price : roundPriceToTick(price, tickSize, exitSide);
    // A long's exits sell: take-profit at the upper barrier, stop at the lower; a short's the reverse.
    const takeProfit = onTick(side === 'buy' ? upper : lower);
    const stopLoss = onTick(side === 'buy' ? lower : upper);
    const ordered = side === 'buy' ? takeProfit > stopLoss : takeProfit < stopLoss;
    if (!(ordered && stopLoss > 0 && takeProfit > 0))
      return this.plain(
        `barriers ${lower}..${upper} of ${symbol} do not fit tick ${tickSize}: take-profit ${takeProfit}, stop ${stopLoss}`,
      );
    return {
      bracket: { take_profit: { limit_price: takeProfit }, stop_loss: { stop_price: stopLoss } },
      exitAfter: signalTs + labels.verticalBars * this.barIntervalMs,
      reference,
      volatility,
      labels,
    };
  }

  /** Starts tracking a bracketed entry the gate passed (once: a signal redelivered after a restart passes it again). */
  track(entry: Omit<BarrierEntry, 'children' | 'filled' | 'closed' | 'entryDone'>): void {
    if (this.byOrder.has(entry.orderId)) return;
    this.insert({
      ...entry,
      children: [
        bracketChildIdFor(entry.orderId, 'take_profit'),
        bracketChildIdFor(entry.orderId, 'stop_loss'),
      ],
      filled: 0,
      closed: 0,
      entryDone: false,
    });
    this.counts.bracketed++;
  }

  private insert(tracked: BarrierEntry): void {
    this.changes++;
    const list = this.open.get(tracked.symbol);
    if (list) list.push(tracked);
    else this.open.set(tracked.symbol, [tracked]);
    this.byOrder.set(tracked.orderId, tracked);
    for (const child of tracked.children) this.byOrder.set(child, tracked);
  }

  /** A fill of an entry opens its position; one of a child closes it. */
  onFill(fill: Fill): void {
    const entry = this.byOrder.get(fill.order_id);
    if (entry === undefined) return;
    this.changes++;
    if (fill.order_id === entry.orderId) entry.filled += fill.quantity;
    else entry.closed += fill.quantity;
    this.settle(entry);
  }

  onOrderEvent(event: OrderEvent): void {
    const entry = this.byOrder.get(event.order_id);
    if (entry === undefined || event.order_id !== entry.orderId || !isTerminal(event.status)) return;
    if (entry.entryDone) return;
    this.changes++;
    entry.entryDone = true;
    this.settle(entry);
  }

  /**
   * The entries of `symbol` whose time limit is at or before `ts` (the first market event of the
   * symbol at or after it), no longer tracked once returned. `ts` must be event time.
   */
  due(symbol: string, ts: number): BarrierEntry[] | undefined {
    const list = this.open.get(symbol);
    if (list === undefined || !list.some((entry) => entry.exitAfter <= ts)) return undefined;
    const due = list.filter((entry) => entry.exitAfter <= ts);
    for (const entry of due) this.forget(entry);
    return due;
  }

  /**
   * Every open entry of `symbol` on `side` (the position an order of the other side is closing), no
   * longer tracked once returned: the closing order replaces their exits.
   */
  closing(symbol: string, side: Side): BarrierEntry[] {
    const list = this.open.get(symbol);
    if (list === undefined) return [];
    const closed = list.filter((entry) => entry.side === side);
    for (const entry of closed) this.forget(entry);
    return closed;
  }

  /** The open entries (oldest first per symbol), the window lengths and each symbol's volatility. */
  save(): BarrierExitsState {
    const entries = [...this.open.values()]
      .flat()
      .map((entry) => ({ ...entry, children: [...entry.children] as [string, string] }));
    const volatility = [...this.volatility].map(([symbol, state]) => ({
      symbol,
      lastBarTs: state.lastBarTs,
      lastClose: state.lastClose,
      ...(state.previousBarTs === Number.NEGATIVE_INFINITY
        ? {}
        : { previousBarTs: state.previousBarTs, previousClose: state.previousClose }),
      byWindow: [...state.byWindow.values()].map(({ estimator, previous }) => ({
        estimator: estimator.state(),
        ...(Number.isNaN(previous) ? {} : { previous }),
      })),
    }));
    return { barInterval: this.barInterval, windows: [...this.windows], volatility, entries };
  }

  /**
   * Takes back what save() returned (checked by the snapshot contract), before any bar or entry: the
   * entries always (their time limits are absolute), the volatility only when it was measured on this
   * bar interval; returns why it was not, if so.
   */
  restore(state: BarrierExitsState): string | undefined {
    for (const entry of state.entries) this.insert({ ...entry, children: [...entry.children] });
    if (state.barInterval !== this.barInterval)
      return `the saved volatility is of ${state.barInterval} bars, not ${this.barInterval}: it warms again`;
    for (const window of state.windows) this.windows.add(window);
    for (const saved of state.volatility) {
      this.volatility.set(saved.symbol, {
        lastBarTs: saved.lastBarTs,
        lastClose: saved.lastClose,
        previousBarTs: saved.previousBarTs ?? Number.NEGATIVE_INFINITY,
        previousClose: saved.previousClose ?? Number.NaN,
        byWindow: new Map(
          saved.byWindow.map(({ estimator, previous }) => [
            estimator.window,
            { estimator: RollingVolatility.fromState(estimator), previous: previous ?? Number.NaN },
          ]),
        ),
      });
    }
    return undefined;
  }

  private plain(reason: string): EntryExits {
    return { bracket: undefined, reason };
  }

  /** An entry passed without barrier exits, counted with its reason for the status. */
  countPlain(reason: string): void {
    this.counts.plain++;
    this.counts.lastPlainReason = reason;
  }

  /** An entry that ended without a fill, or whose children closed all it filled, is done. */
  private settle(entry: BarrierEntry): void {
    if (entry.entryDone && entry.closed >= entry.filled) this.forget(entry);
  }

  private forget(entry: BarrierEntry): void {
    this.changes++;
    const list = this.open.get(entry.symbol);
    const at = list?.indexOf(entry) ?? -1;
    if (list !== undefined && at >= 0) {
      list.splice(at, 1);
      if (list.length === 0) this.open.delete(entry.symbol);
    }
    // A late report of a forgotten entry's orders still moves the book's position, nothing here.
    this.byOrder.delete(entry.orderId);
    for (const child of entry.children) this.byOrder.delete(child);
  }
}

/** Orders that an exit of `entry` cancels: its children, and the entry itself while it still works. */
export function exitCancelsOf(entry: BarrierEntry): string[] {
  return entry.entryDone ? [...entry.children] : [entry.orderId, ...entry.children];
}
