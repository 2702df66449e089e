// Equity triggers: the account's equity from portfolio snapshots, the loss since the start of the
// UTC day and the fall from peak equity, and the automatic switch of the trading state each calls
// for: a daily loss at its limit halts trading, a drawdown at its limit switches to reducing.
import type { PortfolioSnapshot, RiskDecision } from '../../schemas/messages.ts';
import type { EquityState } from '../../schemas/snapshots.ts';
import type { RiskLimits } from './limits.ts';

export type TradingState = RiskDecision['trading_state'];

/** An automatic switch of the trading state that the machine must apply. */
export interface RiskTrigger {
  type: 'DAILY_LOSS_BREACHED' | 'DRAWDOWN_BREACHED';
  value: number;
  limit: number;
}

const DAY_MS = 86_400_000;

export class EquityTriggers {
  /** NaN until the first snapshot. */
  private current = Number.NaN;
  private peak = Number.NaN;
  private dayStart = Number.NaN;
  private day = -1;

  constructor(private readonly limits: Pick<RiskLimits, 'maxDailyLoss' | 'maxDrawdown'>) {}

  get equity(): number {
    return this.current;
  }

  /** Loss since the start of the snapshot's UTC day; NaN before the first snapshot. */
  get dailyLoss(): number {
    return this.dayStart - this.current;
  }

  /** Fall from peak equity as a fraction; NaN before the first snapshot. */
  get drawdown(): number {
    return (this.peak - this.current) / this.peak;
  }

  /** What a restarted gate needs to measure from the same peak and day start; none before the first snapshot. */
  state(): EquityState | undefined {
    if (Number.isNaN(this.current)) return undefined;
    return { equity: this.current, peak: this.peak, dayStart: this.dayStart, day: this.day };
  }

  /** Takes back what state() returned (checked by the snapshot contract), before any portfolio snapshot. */
  restore(state: EquityState): void {
    this.current = state.equity;
    this.peak = state.peak;
    this.dayStart = state.dayStart;
    this.day = state.day;
  }

  onPortfolio(snapshot: PortfolioSnapshot): void {
    const day = Math.floor(snapshot.ts_event / DAY_MS);
    if (day !== this.day) {
      // The day starts from the last equity of the previous day, so an overnight gap counts today.
      this.dayStart = Number.isNaN(this.current) ? snapshot.equity : this.current;
      this.day = day;
    }
    this.current = snapshot.equity;
    if (!(this.peak >= snapshot.equity)) this.peak = snapshot.equity;
  }

  /** The switch `state` must make now, if any: a daily-loss halt first, then a drawdown reduction. */
  trigger(state: TradingState): RiskTrigger | undefined {
    return this.dailyLossTrigger(state) ?? this.drawdownTrigger(state);
  }

  private dailyLossTrigger(state: TradingState): RiskTrigger | undefined {
    const limit = this.limits.maxDailyLoss;
    const loss = this.dailyLoss;
    if (limit === undefined || !(loss >= limit) || state === 'halted') return undefined;
    return { type: 'DAILY_LOSS_BREACHED', value: loss, limit };
  }

  private drawdownTrigger(state: TradingState): RiskTrigger | undefined {
    const limit = this.limits.maxDrawdown;
    const drawdown = this.drawdown;
    if (limit === undefined || !(drawdown >= limit) || state !== 'active') return undefined;
    return { type: 'DRAWDOWN_BREACHED', value: drawdown, limit };
  }
}
