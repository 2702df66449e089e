// TEST FIXTURE: the Binance loopback server (./binance.ts) in a process of its own
// (./fixture-process.ts), for benches, so the exchange's cost of encoding and sending frames is not
// charged to the feed it measures. Controlled over Node's IPC channel.
import type { ChildProcess } from 'node:child_process';
import { BinanceLoopback, cycledTrades, loadSourceTrades } from './binance.ts';
import { fixtureOptions, forkFixture, serveFixture, stopFixture } from './fixture-process.ts';

export interface BinanceProcessOptions {
  /** The tape: cycles `fromCycle` .. `toCycle` - 1 of the real trades (see cycledTrades). */
  readonly fromCycle: number;
  readonly toCycle: number;
  readonly tradesPerSecond: number;
  readonly autoStart: boolean;
}

interface FixtureStatus {
  readonly printed: number;
  readonly total: number;
  readonly streams: number;
}

type Command = { readonly id: number; readonly command: 'status' | 'startTape' | 'refuse' | 'allow' };
type Reply = { readonly id: number; readonly status: FixtureStatus };
type Urls = { readonly restUrl: string; readonly wsUrl: string };

export class BinanceLoopbackProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, (status: FixtureStatus) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly restUrl: string,
    readonly wsUrl: string,
  ) {
    child.on('message', (message: Reply) => {
      this.waiting.get(message.id)?.(message.status);
      this.waiting.delete(message.id);
    });
  }

  static async start(options: BinanceProcessOptions): Promise<BinanceLoopbackProcess> {
    const { child, urls } = await forkFixture<Urls>(import.meta.url, options);
    return new BinanceLoopbackProcess(child, urls.restUrl, urls.wsUrl);
  }

  private send(command: Command['command']): Promise<FixtureStatus> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, command } satisfies Command);
    });
  }

  status(): Promise<FixtureStatus> {
    return this.send('status');
  }

  startTape(): Promise<FixtureStatus> {
    return this.send('startTape');
  }

  refuseConnections(on: boolean): Promise<FixtureStatus> {
    return this.send(on ? 'refuse' : 'allow');
  }

  close(): Promise<void> {
    return stopFixture(this.child);
  }
}

const served = fixtureOptions<BinanceProcessOptions>();
if (served) {
  const trades = cycledTrades(loadSourceTrades(), served.toCycle).slice(
    served.fromCycle * loadSourceTrades().length,
  );
  const server = await BinanceLoopback.start({
    trades,
    tradesPerSecond: served.tradesPerSecond,
    autoStart: served.autoStart,
  });
  const status = (): FixtureStatus => ({
    printed: server.printedCount,
    total: server.trades.length,
    streams: server.subscribedStreams().size,
  });
  process.on('message', (message: Command) => {
    if (message.command === 'startTape') server.startTape();
    else if (message.command === 'refuse') server.refuseConnections(true);
    else if (message.command === 'allow') server.refuseConnections(false);
    process.send?.({ id: message.id, status: status() } satisfies Reply);
  });
  serveFixture(server, { restUrl: server.restUrl, wsUrl: server.wsUrl } satisfies Urls);
}
