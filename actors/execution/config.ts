// The execution actor's part of a run or backtest config: the simulated venue's latency, slippage
// and fee models (LEAN-style reality models), and how they are built from it.
import { type Static, Type } from '@sinclair/typebox';
import { SeededRandom } from '../../core/random.ts';
import type { SimulatedVenueOptions } from './simulated-venue.ts';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
  RandomLatency,
  SpreadSlippage,
} from './venue-models.ts';

const NonNegative = Type.Number({ minimum: 0 });

export const VenueConfigSchema = Type.Object(
  {
    latency: Type.Union([
      Type.Object({ kind: Type.Literal('fixed'), ms: NonNegative }),
      Type.Object({ kind: Type.Literal('random'), minMs: NonNegative, maxMs: NonNegative }),
    ]),
    slippage: Type.Union([
      Type.Object({ kind: Type.Literal('bps'), bps: NonNegative }),
      Type.Object({ kind: Type.Literal('spread'), fraction: NonNegative }),
    ]),
    fee: Type.Object({ makerBps: NonNegative, takerBps: NonNegative, minimum: NonNegative }),
  },
  { additionalProperties: false },
);

export type VenueConfig = Static<typeof VenueConfigSchema>;

/** The venue's models; `seed` drives random latency, so a rerun fills at the same times. */
export function venueFor(venue: VenueConfig, seed: number): SimulatedVenueOptions {
  return {
    latency:
      venue.latency.kind === 'fixed'
        ? new FixedLatency(venue.latency.ms)
        : new RandomLatency(venue.latency.minMs, venue.latency.maxMs, new SeededRandom(seed)),
    fill: new NextTickFillModel(),
    slippage:
      venue.slippage.kind === 'bps'
        ? new BpsSlippage(venue.slippage.bps)
        : new SpreadSlippage(venue.slippage.fraction),
    fee: new MakerTakerFee(venue.fee.makerBps, venue.fee.takerBps, venue.fee.minimum),
  };
}
