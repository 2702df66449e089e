// `sluice feed` and the feed actor of `sluice run` as child processes: every bad flag, provider,
// channel or credential is one line and exit 2 before anything is published; against the loopback
// Alpaca server (a test fixture serving real SPY minute bars) on a real nats-server, a feed publishes
// the bars, records the raw frames and stops cleanly on SIGTERM; wrong credentials are exit 2 naming
// the variables; `sluice run --actors feed` shows the feed's counters and lag on /metrics.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { streamName } from '../../streams/topology.ts';
import { killOnExit } from '../support/cleanup.ts';
import { bootstrap, type CliResult, fetchText, repoRoot, runCli, startSluiceRun } from '../support/cli.ts';
import {
  type AlpacaLoopback,
  alpacaBar,
  readSpyBars,
  startAlpacaLoopback,
} from '../support/loopback/alpaca.ts';
import { natsForTests } from '../support/nats-server.ts';
import { until } from '../support/wait.ts';

const KEY_ID = 'PKTEST-feed-command';
const SECRET = 'feed-command-secret-9f2';
const BARS = 120;

/** Exit 2 and one line matching `line` on stderr, no stack trace. */
function assertOneLine(result: CliResult, line: RegExp): void {
  assert.equal(result.code, 2, `exit ${result.code}:\n${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `more than one line:\n${result.stderr}`);
  assert.match(lines[0]!, line);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
}

/** No provider credentials from the developer's shell leak into a test. */
const NO_CREDENTIALS = {
  ALPACA_API_KEY_ID: '',
  ALPACA_API_SECRET_KEY: '',
  ALPACA_API_KEY_ID_FILE: '',
  ALPACA_API_SECRET_KEY_FILE: '',
  POLYGON_API_KEY: '',
  POLYGON_API_KEY_FILE: '',
  SLUICE_FEED_REST_URL: '',
  SLUICE_FEED_WS_URL: '',
};

describe('sluice feed: bad input is one line and exit 2, before NATS is reached', () => {
  let scratch: string;
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'sluice-feed-args-'));
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('flags, providers, channels, symbols and credentials', async () => {
    // A NATS_URL nobody listens on: a command that got as far as NATS would exit 3, not 2.
    const env = {
      ...NO_CREDENTIALS,
      NATS_URL: 'nats://127.0.0.1:1',
      ALPACA_API_KEY_ID: 'k',
      ALPACA_API_SECRET_KEY: 's',
    };
    const good = ['--symbols', 'SPY', '--channels', 'bars'];
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        ['feed', ...good],
        env,
        /^sluice: configuration error: --provider: is required\. Use --provider alpaca/,
      ],
      [
        ['feed', '--provider', 'ibkr', ...good],
        env,
        /--provider: unknown provider "ibkr"\. Use --provider alpaca, polygon or ccxt:<exchange id>/,
      ],
      [['feed', '--provider', 'ccxt:', ...good], env, /--provider: unknown provider "ccxt:"/],
      [
        ['feed', '--provider', 'ccxt:nosuchexchange', '--symbols', 'BTC/USDT', '--channels', 'trades'],
        env,
        /--provider: ccxt has no WebSocket exchange "nosuchexchange"/,
      ],
      [
        ['feed', '--provider', 'ccxt:binance', '--symbols', 'BTC/USDT', '--channels', 'news'],
        env,
        /--channels: ccxt:binance has no news channel\. Use ccxt:binance's channels: trades,quotes,bars/,
      ],
      [
        ['feed', '--provider', 'alpaca', '--symbols', 'SPY', '--channels', 'trades,smoke'],
        env,
        /--channels: unknown channel "smoke"\. Use a comma-separated subset of trades,quotes,bars,news/,
      ],
      [
        ['feed', '--provider', 'alpaca', '--symbols', 'SPY', '--channels', 'bars,bars'],
        env,
        /--channels: names a channel twice/,
      ],
      [['feed', '--provider', 'alpaca', '--symbols', 'SPY'], env, /--channels: names no channel/],
      [['feed', '--provider', 'alpaca', '--channels', 'bars'], env, /--symbols: is required/],
      [
        ['feed', '--provider', 'alpaca', '--symbols', 'SPY,,AAPL', '--channels', 'bars'],
        env,
        /--symbols: "SPY,,AAPL" has an empty symbol/,
      ],
      [
        ['feed', '--provider', 'alpaca', '--symbols', 'SPY,SPY', '--channels', 'bars'],
        env,
        /--symbols: "SPY,SPY" names a symbol twice/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good, '--stale-after', '-5'],
        env,
        /--stale-after: "-5" is not a number of milliseconds ≥ 1/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good, '--stale-after', '1e400'],
        env,
        /--stale-after: "1e400" is not a number of milliseconds/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good],
        NO_CREDENTIALS,
        /^sluice: configuration error: ALPACA_API_KEY_ID: is not set \(alpaca needs it\)\. Set ALPACA_API_KEY_ID, or ALPACA_API_KEY_ID_FILE/,
      ],
      [
        ['feed', '--provider', 'polygon', ...good],
        NO_CREDENTIALS,
        /POLYGON_API_KEY: is not set \(polygon needs it\)/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good],
        { ...env, ALPACA_API_KEY_ID: '', ALPACA_API_KEY_ID_FILE: join(scratch, 'missing') },
        /ALPACA_API_KEY_ID_FILE: .*missing does not exist\. Point ALPACA_API_KEY_ID_FILE at a readable file/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good],
        { ...env, ALPACA_API_KEY_ID: '', ALPACA_API_KEY_ID_FILE: scratch },
        /ALPACA_API_KEY_ID_FILE: .* is a folder/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good],
        { ...env, SLUICE_FEED_WS_URL: 'http://127.0.0.1:9' },
        /SLUICE_FEED_WS_URL: is not a wss: or ws: URL: "http:\/\/127\.0\.0\.1:9"/,
      ],
      [
        ['feed', '--provider', 'alpaca', ...good],
        { ...env, ALPACA_DATA_FEED: 'otc' },
        /ALPACA_DATA_FEED: must be iex or sip, got "otc"/,
      ],
    ];
    const replay = ['feed', 'replay', '--provider', 'alpaca'];
    cases.push(
      [
        ['feed', 'replay'],
        env,
        /^sluice: configuration error: --provider: is required\. Name the recorded feed/,
      ],
      [['feed', 'replay', '--provider', 'bloomberg'], env, /--provider: unknown provider "bloomberg"/],
      [[...replay, '--from', '2026-02-30'], env, /--from: "2026-02-30" is not a calendar date/],
      [[...replay, '--from', 'yesterday'], env, /--from: "yesterday" is not a date or time/],
      [
        [...replay, '--from', '2026-03-02', '--to', '2026-03-01T12:00:00Z'],
        env,
        /--to: 2026-03-01T12:00:00Z is not after 2026-03-02/,
      ],
      [
        [...replay, '--config', join(scratch, 'nope.json')],
        env,
        /--config: cannot read .*nope\.json: ENOENT/,
      ],
    );
    const check = ['feed', 'check', '--provider', 'alpaca', '--symbols', 'SPY'];
    cases.push(
      [['feed', 'check', '--symbols', 'SPY'], env, /--provider: is required\. Name the feed/],
      [[...check, '--to', '2026-03-02'], env, /--from: is required\. Give --from and --to/],
      [[...check, '--from', '2026-03-02'], env, /--to: is required/],
      [
        [...check, '--from', '2026-03-02', '--to', '2026-03-02'],
        env,
        /--to: 2026-03-02 is not after 2026-03-02/,
      ],
      [
        [...check, '--from', '2026-03-02', '--to', '2026-03-03', '--bar-interval', '1 minute'],
        env,
        /--bar-interval: '1 minute' is not a duration/,
      ],
    );
    const empty = join(scratch, 'empty');
    writeFileSync(empty, '\n');
    cases.push([
      ['feed', '--provider', 'alpaca', ...good],
      { ...env, ALPACA_API_SECRET_KEY: '', ALPACA_API_SECRET_KEY_FILE: empty },
      /ALPACA_API_SECRET_KEY_FILE: .*empty is empty\. Write the value of ALPACA_API_SECRET_KEY in it/,
    ]);
    // A few at a time: each is a Node start.
    for (let start = 0; start < cases.length; start += 4) {
      const batch = cases.slice(start, start + 4);
      const results = await Promise.all(batch.map(([args, caseEnv]) => runCli(args, caseEnv)));
      for (const [index, result] of results.entries()) assertOneLine(result, batch[index]![2]);
    }
  });

  it('a credential read from a file is never printed', async () => {
    const file = join(scratch, 'secret');
    writeFileSync(file, `${SECRET}\n`);
    const result = await runCli(['feed', '--provider', 'alpaca', '--symbols', 'SPY', '--channels', 'smoke'], {
      ...NO_CREDENTIALS,
      ALPACA_API_KEY_ID: KEY_ID,
      ALPACA_API_SECRET_KEY_FILE: file,
    });
    assertOneLine(result, /--channels: unknown channel/);
    assert.ok(!result.stderr.includes(SECRET) && !result.stdout.includes(SECRET));
  });
});

describe('sluice feed against the loopback Alpaca server on NATS', () => {
  let nats: Awaited<ReturnType<typeof natsForTests>>;
  let alpaca: AlpacaLoopback;
  let admin: NatsConnection;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    const bars = (await readSpyBars(BARS)).map(alpacaBar);
    [nats, alpaca] = await Promise.all([
      natsForTests(),
      startAlpacaLoopback({ keyId: KEY_ID, secretKey: SECRET, bars: { SPY: bars }, tickMs: 2 }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'sluice-feed-'));
    env = {
      ...NO_CREDENTIALS,
      NATS_URL: nats.url,
      SLUICE_LOG_LEVEL: 'warn',
      ALPACA_API_KEY_ID: KEY_ID,
      ALPACA_API_SECRET_KEY: SECRET,
      SLUICE_FEED_REST_URL: alpaca.dataUrl,
      SLUICE_FEED_WS_URL: alpaca.streamUrl,
    };
    await bootstrap(env);
    admin = await connectNats({ url: nats.url, name: 'test-feed-admin' });
  });
  after(async () => {
    await admin?.close();
    await alpaca?.close();
    await nats?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Messages the stream holds on subjects matching `filter`. */
  const held = async (stream: 'MARKET' | 'RAW', filter: string): Promise<number> => {
    const info = await (await jetstreamManager(admin)).streams.info(streamName(stream), {
      subjects_filter: filter,
    });
    return Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
  };

  it('wrong credentials: exit 2, one line naming the variables, the secret never printed', async () => {
    const result = await runCli(
      ['feed', '--provider', 'alpaca', '--symbols', 'SPY', '--channels', 'bars'],
      { ...env, ALPACA_API_SECRET_KEY: 'not-the-secret-4471' },
      60_000,
    );
    assertOneLine(
      result,
      /^sluice: configuration error: ALPACA_API_KEY_ID, ALPACA_API_SECRET_KEY: alpaca: authentication failed: .*Check the credentials/,
    );
    assert.ok(!result.stderr.includes('not-the-secret-4471'));
  });

  it('publishes the bars, records every frame, and stops on SIGTERM with exit 0', async (t) => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin', 'sluice.js'),
        'feed',
        '--provider',
        'alpaca',
        '--symbols',
        'SPY',
        '--channels',
        'bars',
        '--record',
        '--stale-after',
        '60000',
      ],
      // Debug logs, to show that not even they carry the secret.
      {
        cwd: repoRoot,
        env: { ...process.env, ...env, SLUICE_LOG_LEVEL: 'debug' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    killOnExit(child);
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(`${BARS} bars on MARKET`, async () => (await held('MARKET', 'md.bar.>')) >= BARS, 60_000);
    assert.equal(await held('MARKET', 'md.bar.>'), BARS, 'each bar once');
    assert.ok((await held('RAW', 'raw.alpaca.bars')) >= BARS, 'every bar frame recorded');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.ok(!stderr.includes(SECRET), 'the secret is in the log');
  });

  it('feed check: the bars of the session per day, against the NYSE calendar', async () => {
    const result = await runCli(
      [
        'feed',
        'check',
        '--provider',
        'alpaca',
        '--symbols',
        'SPY',
        '--from',
        '2011-01-01',
        '--to',
        '2011-02-01',
      ],
      env,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^SPY {9}2011-01-03 +\d+ /m);
    assert.match(result.stdout, new RegExp(`^total: ${BARS} events, `, 'm'));
  });

  it('feed replay: the recorded session, backtested twice with the trained model, gives one ledger hash', async () => {
    // The backtest keeps events by ts_init, here the receive time: a window around now.
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
    const window = ['--from', day(-1), '--to', day(1)];
    // The registry has no model: scored by the config's, trained on the days before the window.
    const args = [
      'feed',
      'replay',
      '--provider',
      'alpaca',
      ...window,
      '--trained',
      '--report-dir',
      dir,
      '--json',
    ];
    const runs = [];
    for (let run = 0; run < 2; run++) {
      const result = await runCli(args, env, 60_000);
      assert.equal(result.code, 0, result.stderr);
      runs.push(JSON.parse(result.stdout));
    }
    const [first, second] = runs;
    assert.equal(first.recording.frames, BARS, 'every recorded frame read');
    assert.equal(first.recording.events, BARS, 'each bar once');
    assert.equal(first.events, BARS, 'every event backtested');
    assert.match(first.ledgerHash, /^[0-9a-f]{64}$/);
    assert.equal(second.ledgerHash, first.ledgerHash);
  });

  it('credentials revoked mid-session: the feed stops itself, exit 2 and one line', async (t) => {
    const market = await startAlpacaLoopback({
      keyId: KEY_ID,
      secretKey: SECRET,
      bars: { SPY: (await readSpyBars(BARS)).map(alpacaBar) },
      tickMs: 20,
    });
    t.after(() => market.close());
    const result = runCli(['feed', '--provider', 'alpaca', '--symbols', 'SPY', '--channels', 'bars'], {
      ...env,
      // The lost connection is logged as a warning; the refusal is the one line left.
      SLUICE_LOG_LEVEL: 'error',
      SLUICE_FEED_REST_URL: market.dataUrl,
      SLUICE_FEED_WS_URL: market.streamUrl,
    });
    await until('the feed streams', () => market.framesSent() > 5);
    market.rejectCredentials(true);
    market.dropAfter(0);
    assertOneLine(
      await result,
      /^sluice: configuration error: --provider: alpaca refused the feed: alpaca: authentication failed.*Check the credentials/,
    );
  });

  it('sluice run --actors feed: the feed counters, state and lag on /metrics; ready while streaming', async (t) => {
    // A market of its own: the first one has played its bars.
    const market = await startAlpacaLoopback({
      keyId: KEY_ID,
      secretKey: SECRET,
      bars: { SPY: (await readSpyBars(BARS)).map(alpacaBar) },
      tickMs: 20,
    });
    t.after(() => market.close());
    const run = await startSluiceRun({
      dir,
      name: 'feed-run',
      actors: 'feed',
      env: { ...env, SLUICE_FEED_REST_URL: market.dataUrl, SLUICE_FEED_WS_URL: market.streamUrl },
      extra: { feed: { provider: 'alpaca', symbols: ['SPY'], channels: ['bars'], staleAfterMs: 60_000 } },
    });
    t.after(() => {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    });
    await run.ready();
    let metrics = '';
    await until('frames counted on /metrics', async () => {
      metrics = (await fetchText(`${run.base}/metrics`))?.text ?? '';
      return /^sluice_feed_frames_total\{provider="alpaca"\} [1-9]/m.test(metrics);
    });
    assert.match(metrics, /^sluice_feed_state\{provider="alpaca",state="streaming"\} 1$/m);
    assert.match(metrics, /^sluice_feed_published_total\{provider="alpaca"\} \d+$/m);
    assert.match(metrics, /^sluice_feed_reconnects_total\{provider="alpaca"\} 0$/m);
    assert.match(metrics, /^# TYPE sluice_feed_lag_seconds histogram$/m);
    assert.match(metrics, /^sluice_actor_events_total\{actor="feed",direction="in"\} [1-9]/m);
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.stderr());
  });
});
