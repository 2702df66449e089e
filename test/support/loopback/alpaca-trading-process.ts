// TEST FIXTURE: the loopback Alpaca trading server (./alpaca-trading.ts, real SPY minute bars) in a
// process of its own, for benches, so the venue's cost of answering is not charged to the client it
// measures (a real broker is another machine).
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { alpacaBar, readSpyBars } from './alpaca.ts';
import { startAlpacaTradingLoopback } from './alpaca-trading.ts';

export interface AlpacaTradingProcessOptions {
  readonly keyId: string;
  readonly secretKey: string;
  readonly cash: number;
  /** How many SPY minute bars the venue's market holds. */
  readonly bars: number;
}

export class AlpacaTradingProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
    readonly streamUrl: string,
  ) {}

  static async start(options: AlpacaTradingProcessOptions): Promise<AlpacaTradingProcess> {
    const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const urls = await new Promise<{ baseUrl: string; streamUrl: string }>((resolve, reject) => {
      child.once('message', (message) => resolve(message as { baseUrl: string; streamUrl: string }));
      child.once('exit', (code) => reject(new Error(`alpaca trading loopback process exited with ${code}`)));
    });
    return new AlpacaTradingProcess(child, urls.baseUrl, urls.streamUrl);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

if (process.send && process.argv[2]) {
  const options = JSON.parse(process.argv[2]) as AlpacaTradingProcessOptions;
  const server = await startAlpacaTradingLoopback({
    keyId: options.keyId,
    secretKey: options.secretKey,
    cash: options.cash,
    bars: { SPY: (await readSpyBars(options.bars)).map(alpacaBar) },
  });
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
  process.send({ baseUrl: server.baseUrl, streamUrl: server.streamUrl });
}
