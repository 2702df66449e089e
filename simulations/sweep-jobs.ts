// Research job kinds for sweeps. `ma-crossover` is a small, self-contained long-only moving-average
// crossover on one symbol's stocknet daily bars; it is a research kind for exploring parameters, not the
// actor pipeline (that is the `backtest` kind, simulations/backtest-job.ts).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDatasetFile } from '../core/dataset-files.ts';
import { stocknetPriceFile } from '../core/datasets.ts';
import type { Bar } from '../schemas/messages.ts';
import { type ClosedTrade, computeMetrics, type EquityPoint } from './metrics.ts';
import type { SweepJobRunner, SweepParams } from './sweep-queue.ts';

export const bundledPriceDir = resolve(dirname(fileURLToPath(import.meta.url)), 'data', 'sample', 'prices');

export interface MaCrossoverParams {
  symbol: string;
  fast: number;
  slow: number;
  /** Fees and slippage per side, in basis points of notional; default 5. */
  costBps: number;
  /** Folder of stocknet `<SYMBOL>.csv` files; default the bundled sample. */
  dataDir: string;
  /** Inclusive epoch-ms window on bar close times (walk-forward folds); default all bars. */
  from: number;
  to: number;
  initialCash: number;
}

/** `params[key]`, or `fallback` when absent; a value of another type than the fallback is an error. */
function param<T extends string | number>(params: SweepParams, key: string, fallback: T): T {
  const value = params[key] ?? fallback;
  if (typeof value !== typeof fallback)
    throw new TypeError(
      `ma-crossover: parameter ${key} must be a ${typeof fallback}, got ${JSON.stringify(value)}`,
    );
  return value as T;
}

export function maCrossoverParams(params: SweepParams): MaCrossoverParams {
  const parsed: MaCrossoverParams = {
    // symbol, fast and slow have no usable default: the checks below reject the placeholders.
    symbol: param<string>(params, 'symbol', ''),
    fast: param<number>(params, 'fast', 0),
    slow: param<number>(params, 'slow', 0),
    costBps: param<number>(params, 'costBps', 5),
    dataDir: param<string>(params, 'dataDir', bundledPriceDir),
    from: param<number>(params, 'from', Number.MIN_SAFE_INTEGER),
    to: param<number>(params, 'to', Number.MAX_SAFE_INTEGER),
    initialCash: param<number>(params, 'initialCash', 100_000),
  };
  if (!/^[A-Z0-9.^-]+$/.test(parsed.symbol))
    throw new TypeError(`ma-crossover: bad symbol "${parsed.symbol}"`);
  if (
    !Number.isInteger(parsed.fast) ||
    !Number.isInteger(parsed.slow) ||
    parsed.fast < 1 ||
    parsed.slow <= parsed.fast
  )
    throw new TypeError(`ma-crossover: need integers 1 ≤ fast < slow, got ${parsed.fast}/${parsed.slow}`);
  return parsed;
}

async function loadBars(params: MaCrossoverParams): Promise<Bar[]> {
  const bars: Bar[] = [];
  for await (const row of readDatasetFile(stocknetPriceFile(join(params.dataDir, `${params.symbol}.csv`)))) {
    if (row.kind === 'error') throw new Error(`ma-crossover: ${row.file} row ${row.row}: ${row.reason}`);
    if (row.kind === 'bar' && row.event.ts_event >= params.from && row.event.ts_event <= params.to)
      bars.push(row.event);
  }
  return bars;
}

export interface MaCrossoverRun {
  equity: EquityPoint[];
  trades: ClosedTrade[];
  tradedNotional: number;
}

/**
 * Long `floor(cash / open)` shares while the fast simple mean of closes is above the slow one. The signal
 * at a close is filled at the next bar's open (no look-ahead), paying `costBps` per side; equity is marked
 * at each close. An open position is closed at the last close so every trade is a round trip.
 */
export function simulateMaCrossover(bars: readonly Bar[], params: MaCrossoverParams): MaCrossoverRun {
  const cost = params.costBps / 10_000;
  const equity: EquityPoint[] = [];
  const trades: ClosedTrade[] = [];
  let cash = params.initialCash;
  let shares = 0;
  let entry = { ts: 0, price: 0, fee: 0 };
  let tradedNotional = 0;
  let fastSum = 0;
  let slowSum = 0;
  let wantLong = false;
  const exit = (ts: number, price: number) => {
    const fee = shares * price * cost;
    cash += shares * price - fee;
    tradedNotional += shares * price;
    trades.push({
      symbol: params.symbol,
      side: 'long',
      quantity: shares,
      entryTs: entry.ts,
      exitTs: ts,
      entryPrice: entry.price,
      exitPrice: price,
      pnl: shares * (price - entry.price) - entry.fee - fee,
    });
    shares = 0;
  };
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i]!;
    if (wantLong && shares === 0) {
      const quantity = Math.floor(cash / (bar.open * (1 + cost)));
      if (quantity > 0) {
        const fee = quantity * bar.open * cost;
        cash -= quantity * bar.open + fee;
        tradedNotional += quantity * bar.open;
        shares = quantity;
        entry = { ts: bar.ts_event, price: bar.open, fee };
      }
    } else if (!wantLong && shares > 0) {
      exit(bar.ts_event, bar.open);
    }
    fastSum += bar.close - (i >= params.fast ? bars[i - params.fast]!.close : 0);
    slowSum += bar.close - (i >= params.slow ? bars[i - params.slow]!.close : 0);
    if (i + 1 >= params.slow) wantLong = fastSum / params.fast > slowSum / params.slow;
    if (i === bars.length - 1 && shares > 0) exit(bar.ts_event, bar.close);
    equity.push({ t: bar.ts_event, equity: cash + shares * bar.close, grossExposure: shares * bar.close });
  }
  return { equity, trades, tradedNotional };
}

/** Loads the symbol's bars and simulates; the curve and trades feed metrics and reports. */
export async function runMaCrossover(params: MaCrossoverParams): Promise<MaCrossoverRun> {
  const bars = await loadBars(params);
  if (bars.length <= params.slow)
    throw new RangeError(`ma-crossover: ${bars.length} bars for slow=${params.slow}`);
  return simulateMaCrossover(bars, params);
}

export const maCrossoverRunner: SweepJobRunner = {
  kind: 'ma-crossover',
  async run(raw) {
    return { metrics: computeMetrics(await runMaCrossover(maCrossoverParams(raw))) };
  },
};

/** The research kinds every `sluice worker` knows. */
export const researchJobRunners: readonly SweepJobRunner[] = [maCrossoverRunner];
