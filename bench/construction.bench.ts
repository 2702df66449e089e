// construction_hrp_500_ms: sample covariance + hierarchical risk parity for 500 assets over 1,000
// daily returns, on one core (the median wall time of seven runs after two warm-up runs; _cpu_ms is
// their CPU time, _covariance_ms the covariance's share). The shared data has 88
// stocknet symbols, not 500, so these returns are seeded synthetic ones from a five-factor model
// (test/support/construction.ts) so that the assets cluster as real ones do.
// construction_rebalances_per_s: rebalances of 50 real stocknet stocks, each a Ledoit-Wolf
// covariance of the last 252 daily returns and HRP weights within the caps, the window rolling one
// day per rebalance.
import { ledoitWolfCovariance, sampleCovariance } from '../core/construction/covariance.ts';
import { createConstructionMethod } from '../core/construction/registry.ts';
import type { ConstructionInput } from '../core/construction/types.ts';
import { realReturns, syntheticReturns } from '../test/support/construction.ts';

const STOCKNET_FULL_HISTORY = [
  'AAPL',
  'ABB',
  'AEP',
  'AMGN',
  'AMZN',
  'BA',
  'BAC',
  'BBL',
  'BCH',
  'BHP',
  'BP',
  'BRK-A',
  'BSAC',
  'BUD',
  'C',
  'CAT',
  'CELG',
  'CHL',
  'CHTR',
  'CMCSA',
  'CODI',
  'CSCO',
  'CVX',
  'D',
  'DHR',
  'DIS',
  'DUK',
  'EXC',
  'GD',
  'GE',
  'GOOG',
  'HD',
  'HON',
  'HRG',
  'HSBC',
  'IEP',
  'INTC',
  'JNJ',
  'JPM',
  'KO',
  'LMT',
  'MA',
  'MCD',
  'MDT',
  'MMM',
  'MO',
  'MRK',
  'MSFT',
  'NEE',
  'NGG',
];
const WINDOW = 252;
const constraints = { longOnly: true, maxWeight: 0.1, maxGross: 1, maxNet: 1 };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function hrp500(): Record<string, number> {
  const returns = syntheticReturns(500, 500, 1000);
  const symbols = returns.map((_, i) => `A${i}`);
  const hrp = createConstructionMethod('hrp');
  const covarianceMs: number[] = [];
  const totalMs: number[] = [];
  const cpuMs: number[] = [];
  let checksum = 0;
  for (let run = 0; run < 9; run++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const covariance = sampleCovariance(returns);
    const estimated = performance.now();
    const weights = hrp.weights({ symbols, covariance, constraints: { ...constraints, maxWeight: 1 } });
    const finished = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    checksum += weights.A0!;
    // The first two runs warm the JIT up.
    if (run >= 2) {
      covarianceMs.push(estimated - started);
      totalMs.push(finished - started);
      cpuMs.push((cpu.user + cpu.system) / 1000);
    }
  }
  if (!(checksum > 0)) throw new Error('HRP gave no weight to A0');
  return {
    construction_hrp_500_ms: Number(median(totalMs).toFixed(1)),
    construction_hrp_500_covariance_ms: Number(median(covarianceMs).toFixed(1)),
    // CPU time of the same runs: on a shared machine, closer to what one idle core would take.
    construction_hrp_500_cpu_ms: Number(median(cpuMs).toFixed(1)),
  };
}

function rebalances(): Record<string, number> {
  const returns = realReturns(STOCKNET_FULL_HISTORY, 1200);
  const hrp = createConstructionMethod('hrp');
  const rebalance = (start: number): number => {
    const window = returns.map((series) => series.slice(start, start + WINDOW));
    const input: ConstructionInput = {
      symbols: STOCKNET_FULL_HISTORY,
      covariance: ledoitWolfCovariance(window).covariance,
      constraints,
    };
    return hrp.weights(input).AAPL!;
  };
  const days = returns[0]!.length - WINDOW;
  for (let i = 0; i < 50; i++) rebalance(i % days);
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < 3000) {
    rebalance(count % days);
    count++;
  }
  return { construction_rebalances_per_s: Math.round(count / ((performance.now() - started) / 1000)) };
}

export default async function run(): Promise<Record<string, number>> {
  return { ...hrp500(), ...rebalances() };
}
