// The execution actor's part of a run or backtest config: the simulated venue's latency, slippage
// and fee models (LEAN-style reality models), and how they are built from it.
import { type Static, Type } from '@sinclair/typebox';
import { SeededRandom } from '../../core/random.ts';
import { calendars } from '../feed/calendar.ts';
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
    /** When day orders expire: `nyse` at the session close (16:00 New York), `24x7` (default) never. */
    calendar: Type.Optional(Type.Union([Type.Literal('nyse'), Type.Literal('24x7')])),
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
    calendar: calendars[venue.calendar ?? '24x7'],
  };
}

const HttpUrl = Type.String({ pattern: '^https?://' });
const WsUrl = Type.String({ pattern: '^wss?://' });

/** What reconciliation does with an open order at the venue that Sluice did not place (default halt). */
const UnknownOrdersSchema = Type.Union([Type.Literal('cancel'), Type.Literal('adopt'), Type.Literal('halt')]);

const liveBrokerProperties = {
  /** Real money: needs the live credentials too (SLUICE_BROKER_LIVE_KEY_ID / _SECRET). */
  live: Type.Optional(Type.Boolean()),
  unknownOrders: Type.Optional(UnknownOrdersSchema),
  requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
};

/**
 * Where the execution actor sends orders (`sluice run` only: a backtest is always simulated). The
 * simulated venue unless said otherwise; a broker's paper account (Alpaca paper, a ccxt exchange's
 * sandbox) by default; a live account only with `live: true` and the live credentials. Credentials
 * never sit in this file (see actors/execution/brokers/index.ts).
 */
export const BrokerConfigSchema = Type.Union([
  Type.Object({ kind: Type.Literal('simulated') }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('alpaca'),
      ...liveBrokerProperties,
      /** Trading API (default Alpaca's paper or live endpoint, per `live`). */
      baseUrl: Type.Optional(HttpUrl),
      /** trade_updates stream (default derived from baseUrl). */
      streamUrl: Type.Optional(WsUrl),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('ccxt'),
      /** A ccxt exchange id, e.g. binance. */
      exchange: Type.String({ pattern: '^[a-z0-9]+$' }),
      /** The exchange's sandbox (testnet): the paper account, and the default unless `live`. */
      sandbox: Type.Optional(Type.Boolean()),
      /**
       * The markets traded, as ccxt spells them (BTC/USDT): the exchange reads fills and orders per
       * market, and spot positions are the base assets' balances.
       */
      symbols: Type.Array(Type.String({ minLength: 3, maxLength: 64, pattern: '^[A-Z0-9]+/[A-Z0-9]+$' }), {
        minItems: 1,
        uniqueItems: true,
      }),
      ...liveBrokerProperties,
      restUrl: Type.Optional(HttpUrl),
      wsUrl: Type.Optional(WsUrl),
    },
    { additionalProperties: false },
  ),
]);

export type BrokerConfig = Static<typeof BrokerConfigSchema>;
export type LiveBrokerConfig = Exclude<BrokerConfig, { kind: 'simulated' }>;

/**
 * The name the execution actor trades under: its snapshot key (execution.<name>) and its subject
 * exec.reconcile.<name>, from the config alone so a risk gate in another process finds it. Paper and
 * live accounts at one broker have different names, so a switch never restores the other's orders.
 */
export function executionVenueName(broker: BrokerConfig | undefined): string {
  if (broker === undefined || broker.kind === 'simulated') return 'SIM';
  const account = broker.live === true ? 'live' : 'paper';
  return broker.kind === 'alpaca' ? `alpaca-${account}` : `${broker.exchange}-${account}`;
}
