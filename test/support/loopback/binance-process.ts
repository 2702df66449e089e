// TEST FIXTURE: the Binance loopback server (./binance.ts) in a process of its own, for benches, so
// the exchange's cost of encoding and sending frames is not charged to the feed it measures (a real
// exchange is another machine). Controlled over Node's IPC channel.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BinanceLoopback, cycledTrades, loadSourceTrades } from './binance.ts';

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
    const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const urls = await new Promise<{ restUrl: string; wsUrl: string }>((resolve, reject) => {
      child.once('message', (message) => resolve(message as { restUrl: string; wsUrl: string }));
      child.once('exit', (code) => reject(new Error(`binance loopback process exited with ${code}`)));
    });
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

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

if (process.send && process.argv[2]) {
  const options = JSON.parse(process.argv[2]) as BinanceProcessOptions;
  const trades = cycledTrades(loadSourceTrades(), options.toCycle).slice(
    options.fromCycle * loadSourceTrades().length,
  );
  const server = await BinanceLoopback.start({
    trades,
    tradesPerSecond: options.tradesPerSecond,
    autoStart: options.autoStart,
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
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
  process.send({ restUrl: server.restUrl, wsUrl: server.wsUrl });
}
