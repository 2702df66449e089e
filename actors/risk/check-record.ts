// The checks[] of one risk decision as the pre-trade checks record them, and its code and reason:
// the first failure decides. A reason is built only for the deciding failure, and results that carry
// nothing specific to the signal are shared frozen objects (bench/risk.bench.ts counts decisions).
import type { RiskDecision } from '../../schemas/messages.ts';
import type { InstrumentDenial } from './venue-rules.ts';

/** A pre-trade check; its name is also the denial code when it fails. */
export type RiskCheck =
  | 'DUPLICATE_SIGNAL'
  | 'TRADING_HALTED'
  | 'RESTRICTED'
  | 'INSTRUMENT_UNKNOWN'
  | 'OUTSIDE_TRADING_SESSION'
  | 'MIN_CONFIDENCE'
  | 'STALE_MARKET_DATA'
  | 'DAILY_LOSS'
  | 'DRAWDOWN'
  | 'REDUCE_ONLY'
  | InstrumentDenial
  | 'QUANTITY_OUT_OF_RANGE'
  | 'PRICE_COLLAR'
  | 'STOP_COLLAR'
  | 'STOP_WRONG_SIDE'
  | 'TAKE_PROFIT_WRONG_SIDE'
  | 'MAX_NOTIONAL'
  | 'POSITION_LIMIT'
  | 'GROSS_EXPOSURE'
  | 'NET_EXPOSURE'
  | 'REPEATED_EXECUTION'
  | 'ORDER_RATE';

export type DenialCode = RiskCheck | 'LIMIT_NOT_CONFIGURED';
export type DecisionCode = DenialCode | 'OK';
export type CheckResult = RiskDecision['checks'][number];

const ALL_PASSED = 'all checks passed';

function finite(value: number): number | undefined {
  return Number.isFinite(value) ? value : undefined;
}

/**
 * A check result that carries nothing specific to one signal, shared by every decision that records
 * it. Frozen: a decision is an immutable record, and a shared entry must stay so.
 */
export function sharedCheck(check: RiskCheck, passed: boolean, value?: number, limit?: number): CheckResult {
  return Object.freeze({ check, passed, value: value === undefined ? undefined : finite(value), limit });
}

export interface SharedPair {
  readonly pass: CheckResult;
  readonly fail: CheckResult;
}

export function sharedPair(check: RiskCheck, value?: number, limit?: number): SharedPair {
  return { pass: sharedCheck(check, true, value, limit), fail: sharedCheck(check, false, value, limit) };
}

/**
 * The decision being built. evaluate() is synchronous and never re-entered, so one recorder serves
 * every decision of a gate. Each recording method returns true when its result is the deciding
 * failure: only then does the check set `reason`.
 */
export class CheckRecorder {
  private checks: CheckResult[] = [];
  private count = 0;
  code: DecisionCode = 'OK';
  reason = ALL_PASSED;

  /** `capacity`: the most checks one decision records (every check configured and reached). */
  constructor(private readonly capacity: number) {}

  begin(): void {
    this.checks = new Array<CheckResult>(this.capacity);
    this.count = 0;
    this.code = 'OK';
    this.reason = ALL_PASSED;
  }

  /** Appends a check result. */
  add(result: CheckResult): boolean {
    this.checks[this.count++] = result;
    if (result.passed || this.code !== 'OK') return false;
    this.code = result.check as RiskCheck;
    return true;
  }

  /** A check without per-signal values: its shared pass or fail result. */
  shared(pair: SharedPair, passed: boolean): boolean {
    return this.add(passed ? pair.pass : pair.fail);
  }

  /** A check with the values it compared. */
  check(name: RiskCheck, passed: boolean, value: number, limit: number): boolean {
    return this.add({ check: name, passed, value: finite(value), limit });
  }

  /** A check whose limit is missing: it fails, and the first such decides (fail closed). */
  notConfigured(name: RiskCheck, field: string): void {
    this.checks[this.count++] = { check: name, passed: false };
    if (this.code === 'OK') {
      this.code = 'LIMIT_NOT_CONFIGURED';
      this.reason = `risk limit ${field} is not configured (check ${name}); every order is denied until it is set`;
    }
  }

  /** The recorded checks, in the order they ran; the recorder lets go of them. */
  finish(): CheckResult[] {
    const checks = this.checks;
    if (this.count < this.capacity) checks.length = this.count;
    this.checks = [];
    return checks;
  }
}
