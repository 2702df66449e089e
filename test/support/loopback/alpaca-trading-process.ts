// TEST FIXTURE: the loopback Alpaca trading server (./alpaca-trading.ts, real SPY minute bars) in a
// process of its own (./fixture-process.ts), for benches.
import type { ChildProcess } from 'node:child_process';
import { alpacaBar, readSpyBars } from './alpaca.ts';
import { startAlpacaTradingLoopback } from './alpaca-trading.ts';
import { fixtureOptions, forkFixture, serveFixture, stopFixture } from './fixture-process.ts';

export interface AlpacaTradingProcessOptions {
  readonly keyId: string;
  readonly secretKey: string;
  readonly cash: number;
  /** How many SPY minute bars the venue's market holds. */
  readonly bars: number;
}

interface Urls {
  readonly baseUrl: string;
  readonly streamUrl: string;
}

export class AlpacaTradingProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
    readonly streamUrl: string,
  ) {}

  static async start(options: AlpacaTradingProcessOptions): Promise<AlpacaTradingProcess> {
    const { child, urls } = await forkFixture<Urls>(import.meta.url, options);
    return new AlpacaTradingProcess(child, urls.baseUrl, urls.streamUrl);
  }

  close(): Promise<void> {
    return stopFixture(this.child);
  }
}

const served = fixtureOptions<AlpacaTradingProcessOptions>();
if (served) {
  const server = await startAlpacaTradingLoopback({
    keyId: served.keyId,
    secretKey: served.secretKey,
    cash: served.cash,
    bars: { SPY: (await readSpyBars(served.bars)).map(alpacaBar) },
  });
  serveFixture(server, { baseUrl: server.baseUrl, streamUrl: server.streamUrl } satisfies Urls);
}
