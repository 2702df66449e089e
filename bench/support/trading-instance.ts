// The trading process of the trading bench, in a process of its own as `sluice run` would run it:
// risk gate → execution (simulated venue) → portfolio over JetStream on NATS_URL, with limits that
// pass the bench's orders. Prints one JSON status line every 100 ms (risk decisions, RSS); SIGTERM
// drains and exits.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  BpsSlippage,
  FixedLatency,
  MakerTakerFee,
  NextTickFillModel,
} from '../../actors/execution/venue-models.ts';
import { startTrading } from '../../actors/pipeline.ts';
import { FixedNotionalSizer } from '../../actors/risk/sizing.ts';
import { GateKey } from '../../core/gate-seal.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { NatsActorBus } from '../../streams/bus.ts';
import { connectNats } from '../../streams/connection.ts';
import { riskLimits } from '../../test/support/risk-limits.ts';
import { reportStatus } from './status-process.ts';

const connection = await connectNats({ url: process.env.NATS_URL ?? '', name: 'bench-trading' });
const bus = new NatsActorBus(jetstream(connection), await jetstreamManager(connection), new Subjects(4));
const trading = await startTrading(
  {
    account: 'bench',
    gateKey: GateKey.forRun('bench'),
    startingCash: 1e9,
    startState: 'active',
    risk: {
      limits: riskLimits({
        instruments: { BTCUSDT: { minQuantity: 0.0001, maxQuantity: 100, maxPosition: 1_000 } },
        maxOrderNotional: 1e6,
        priceCollarBps: 200,
        minConfidence: 0.5,
        maxDailyLoss: 1e9,
      }),
      sizer: new FixedNotionalSizer(1_000),
    },
    venue: {
      latency: new FixedLatency(0),
      fill: new NextTickFillModel(),
      slippage: new BpsSlippage(1),
      fee: new MakerTakerFee(0, 1),
    },
  },
  { bus },
);
reportStatus(
  () => {
    const { risk, execution } = trading.status();
    return { decisions: risk.decisions, fills: execution.fills };
  },
  async () => {
    await trading.stop();
    await bus.close();
    await connection.close();
  },
);
