// Bad arguments, input files, configuration and unreachable services, each through the real `sluice`
// command: exit 2 (bad input) or 3 (a service it cannot reach) and ONE line naming the thing at fault
// and the fix, with no stack trace and no password. Ingest runs against a real nats-server.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { startOperatorHttp } from '../../actors/runtime/http.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { type CliResult, repoRoot, runCli, sharedDataDir } from '../support/cli.ts';
import { freePort } from '../support/ports.ts';

const SAMPLE_CONFIG = 'simulations/configs/sample-daily.json';
let scratch: string;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sluice-cli-errors-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The command failed with `code` and one line on stderr matching `line` (no stack, nothing else). */
function assertOneLine(result: CliResult, code: number, line: RegExp): void {
  assert.equal(result.code, code, `exit ${result.code}:\n${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `more than one line:\n${result.stderr}`);
  assert.match(lines[0]!, line);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
}

/** The sample backtest config with the field at `path` set to `value`, written to a file; its path. */
function sampleConfigWith(path: string[], value: unknown): string {
  const config = JSON.parse(readFileSync(join(repoRoot, SAMPLE_CONFIG), 'utf8')) as Record<string, unknown>;
  const parent = path.slice(0, -1).reduce((node, key) => node[key] as Record<string, unknown>, config);
  parent[path.at(-1)!] = value;
  const file = join(scratch, `${path.join('-')}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('sluice backtest', () => {
  it('an unknown symbol is refused before training, naming the flag', async () => {
    assertOneLine(
      await runCli(['backtest', '--config', SAMPLE_CONFIG, '--symbols', 'NOPE']),
      2,
      /^sluice: configuration error: --symbols: no price file for NOPE in .*prices \(\/model\/priceDir\)\. Use symbols/,
    );
  });

  it('a date that is not on the calendar is refused, in a flag and in the config', async () => {
    assertOneLine(
      await runCli(['backtest', '--config', SAMPLE_CONFIG, '--from', '2014-02-30']),
      2,
      /--from: "2014-02-30" is not a calendar date\. Use YYYY-MM-DD/,
    );
    const config = sampleConfigWith(['data', 'from'], '2014-02-30');
    assertOneLine(
      await runCli(['backtest', '--config', config]),
      2,
      /\/data\/from: expected a calendar date YYYY-MM-DD \(UTC\), got "2014-02-30"/,
    );
  });

  it('a union field names the field and what it accepts', async () => {
    const unknownKind = sampleConfigWith(['trading', 'sizing'], { kind: 'fixed', notional: 1 });
    assertOneLine(
      await runCli(['backtest', '--config', unknownKind]),
      2,
      /\/trading\/sizing\/kind: expected one of "fixed-notional", "volatility-target", "kelly", got "fixed"/,
    );
    const badVariant = sampleConfigWith(['trading', 'sizing', 'kind'], 'kelly');
    assertOneLine(
      await runCli(['backtest', '--config', badVariant]),
      2,
      /\/trading\/sizing\/fraction: is required/,
    );
    const notObject = sampleConfigWith(['trading', 'venue', 'latency'], 'fast');
    assertOneLine(
      await runCli(['backtest', '--config', notObject]),
      2,
      /\/trading\/venue\/latency: expected an object whose "kind" is one of "fixed", "random"/,
    );
  });
});

describe('sluice features', () => {
  const gmre = join(sharedDataDir, 'stocknet', 'price_raw', 'GMRE.csv');

  it('a binary file or a folder as input', async () => {
    const binary = join(scratch, 'binary.csv');
    writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x22]));
    const output = join(scratch, 'features.csv');
    assertOneLine(
      await runCli(['features', '--input', binary, '--output', output]),
      2,
      /--input: .*binary\.csv is not a text file/,
    );
    assertOneLine(
      await runCli(['features', '--input', scratch, '--output', output]),
      2,
      /--input: .* is a folder\. Pass the path of a CSV file/,
    );
  });

  it('an output path that cannot be written', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, '');
    assertOneLine(
      await runCli(['features', '--input', gmre, '--output', join(file, 'out.csv')]),
      2,
      /--output: .*a-file\/out\.csv has a part that is not a folder/,
    );
    assertOneLine(
      await runCli(['features', '--input', gmre, '--output', join(scratch, 'no-such', 'out.csv')]),
      2,
      /--output: .*out\.csv is in a folder that does not exist/,
    );
    assertOneLine(
      await runCli(['features', '--input', gmre, '--output', scratch]),
      2,
      /--output: .* is a folder/,
    );
  });
});

describe('sluice models push', () => {
  it('a manifest that breaks its contract is refused before NATS is reached, naming the field', async () => {
    const onnx = join(scratch, 'model.onnx');
    writeFileSync(onnx, new Uint8Array([8, 1]));
    const manifest = (name: string, text: string) => {
      writeFileSync(join(scratch, name), text);
      return join(scratch, name);
    };
    // NATS_URL points nowhere: a refusal must come before any connection (exit 2, not 3).
    const env = { NATS_URL: 'nats://127.0.0.1:1' };
    const push = (path: string) => runCli(['models', 'push', onnx, '--manifest', path], env);
    assertOneLine(
      await push(manifest('v2.json', JSON.stringify({ manifestVersion: 2, modelId: 'm' }))),
      2,
      /--manifest: model_manifest\.v1: \/manifestVersion: is 2; this Sluice reads manifest version 1 only\./,
    );
    assertOneLine(
      await push(manifest('partial.json', JSON.stringify({ manifestVersion: 1, modelId: 'm' }))),
      2,
      /--manifest: model_manifest\.v1: \/\w+: .*\. Pass the manifest sluice train wrote/,
    );
    assertOneLine(
      await push(manifest('broken.json', '{"manifestVersion": 1,')),
      2,
      /--manifest: model_manifest\.v1: malformed JSON/,
    );
  });
});

describe('services that cannot be reached, and URLs with passwords', () => {
  it('sluice run and sluice migrate with the database down: exit 3 naming DATABASE_URL without its password', async () => {
    const config = join(scratch, 'run.json');
    const deploy = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'sluice.json'), 'utf8'));
    writeFileSync(config, JSON.stringify({ ...deploy, http: { port: 0 } }));
    const databaseUrl = `postgres://sluice:s3cret-db@127.0.0.1:${await freePort()}/sluice`;
    const result = await runCli(['run', '--config', config, '--actors', 'feature'], {
      DATABASE_URL: databaseUrl,
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    });
    assertOneLine(
      result,
      3,
      /^sluice: unreachable: PostgreSQL at postgres:\/\/sluice:\*\*\*@127\.0\.0\.1:\d+\/sluice \(DATABASE_URL\): .*ECONNREFUSED.*set DATABASE_URL/,
    );
    assert.ok(!result.stderr.includes('s3cret'));
    const migrate = await runCli(['migrate'], { DATABASE_URL: databaseUrl });
    assertOneLine(
      migrate,
      3,
      /^sluice: unreachable: PostgreSQL at postgres:\/\/sluice:\*\*\*@.*\(DATABASE_URL\)/,
    );
  });

  it('sluice ingest and sluice tail with NATS down: exit 3 naming NATS_URL without its password', async () => {
    const env = { NATS_URL: `nats://feed:s3cret-nats@127.0.0.1:${await freePort()}` };
    for (const args of [
      ['ingest', 'sample-prices'],
      ['tail', 'alert.>'],
    ]) {
      const result = await runCli(args, env);
      assertOneLine(
        result,
        3,
        /^sluice: unreachable: NATS at nats:\/\/feed:\*\*\*@127\.0\.0\.1:\d+ \(NATS_URL\): .*set NATS_URL/,
      );
      assert.ok(!result.stderr.includes('s3cret'));
    }
  });

  it('a malformed DATABASE_URL is refused without printing its password', async () => {
    for (const url of [
      'postgres://u:s3cret@[bad',
      'postgres://u:s3cret@host:99999/db',
      'postgres://u:s3cret@ho st/db',
      'postgres://u:s3cret%zz@host/db',
      'u:s3cret@host/db',
      's3cret',
    ]) {
      const result = await runCli(['status'], { DATABASE_URL: url });
      assertOneLine(result, 2, /^sluice: configuration error: DATABASE_URL: /);
      assert.ok(!`${result.stdout}${result.stderr}`.includes('s3cret'), `${url}: ${result.stderr}`);
    }
    // Well-formed but unreachable, with the password as a query parameter pg reads.
    const result = await runCli(['status'], {
      DATABASE_URL: `postgres://u@127.0.0.1:${await freePort()}/db?password=s3cret`,
      NATS_URL: `nats://127.0.0.1:${await freePort()}`,
    });
    assert.equal(result.code, 3, result.stderr);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('s3cret'), result.stdout);
  });

  it('the operator HTTP server listens on 127.0.0.1 unless configured', async (t) => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
    if (!external) return t.skip('this machine has no non-loopback IPv4 address to try');
    const http = await startOperatorHttp({
      port: 0,
      readiness: () => ({ ready: true, reasons: [] }),
      registry: new Registry(),
    });
    const reaches = (host: string) =>
      new Promise<boolean>((resolve) => {
        const socket = connect(http.port, host);
        socket.once('connect', () => resolve(socket.destroy() !== undefined));
        socket.once('error', () => resolve(false));
      });
    try {
      assert.equal(await reaches('127.0.0.1'), true);
      assert.equal(await reaches(external), false, `reachable at ${external}:${http.port}`);
    } finally {
      await http.close();
    }
  });
});

describe('sluice ingest on a real nats-server', () => {
  let bus: TestBus;
  let dataDir: string;
  before(async () => {
    bus = await startTestBus();
    dataDir = join(scratch, 'data');
    mkdirSync(join(dataDir, 'stocknet', 'price_raw'), { recursive: true });
  });
  after(async () => {
    await bus?.close();
  });

  const marketMessages = async () => (await bus.manager.streams.info('MARKET')).state.messages;

  /** Writes stocknet/price_raw/<symbol>.csv and ingests it; asserts nothing reached the stream. */
  async function ingestPriceFile(symbol: string, text: string): Promise<CliResult> {
    writeFileSync(join(dataDir, 'stocknet', 'price_raw', `${symbol}.csv`), text);
    const before = await marketMessages();
    const result = await runCli(['ingest', 'stocknet-prices', '--data-dir', dataDir, '--symbols', symbol], {
      NATS_URL: bus.url,
    });
    assert.equal(await marketMessages(), before, 'published rows of a refused file');
    return result;
  }

  it('a file with the wrong separator or missing columns is refused up front, with the columns', async () => {
    assertOneLine(
      await ingestPriceFile(
        'SEMI',
        'Date;Open;High;Low;Close;Adj Close;Volume\n2015-01-02;10;11;9;10.5;10.5;1000\n',
      ),
      2,
      /SEMI\.csv: its header lacks Date, Open, High, Low, Close, Volume .*\(it seems separated by ";"\); expected columns Date, Open, High, Low, Close, Volume separated by ","/,
    );
    assertOneLine(
      await ingestPriceFile('NOLOW', 'Date,Open,High,Close,Volume\n2015-01-02,10,11,10.5,1000\n'),
      2,
      /NOLOW\.csv: its header lacks Low \(it has \["Date","Open","High","Close","Volume"\]\)/,
    );
  });

  it('an empty file, and one with a header only', async () => {
    assertOneLine(await ingestPriceFile('EMPTY', ''), 2, /EMPTY\.csv: is empty\./);
    assertOneLine(
      await ingestPriceFile('HEADER', 'Date,Open,High,Low,Close,Adj Close,Volume\n'),
      2,
      /HEADER\.csv: has a header but no rows\./,
    );
  });

  it('an unknown --symbols is refused; --symbols selects from the bundled sample', async () => {
    assertOneLine(
      await runCli(['ingest', 'sample-prices', '--symbols', 'AAPL,NOPE'], { NATS_URL: bus.url }),
      2,
      /--symbols: NOPE is in none of sample-prices\. Use symbols they hold: AAPL, AMZN/,
    );
    const result = await runCli(['ingest', 'sample-prices', 'sample-tweets', '--symbols', 'AAPL', '--json'], {
      NATS_URL: bus.url,
    });
    assert.equal(result.code, 0, result.stderr);
    const [prices, tweets] = JSON.parse(result.stdout) as { published: number; skipped: number }[];
    const aaplRows =
      readFileSync(join(repoRoot, 'simulations/data/sample/prices/AAPL.csv'), 'utf8').trim().split('\n')
        .length - 1;
    assert.equal(prices!.published, aaplRows);
    assert.ok(tweets!.skipped > 0 && tweets!.published > 0, JSON.stringify(tweets));
    const market = await bus.manager.streams.info('MARKET', { subjects_filter: '>' });
    assert.deepEqual(
      Object.keys(market.state.subjects ?? {}).sort(),
      [bus.subjects.bar('AAPL'), bus.subjects.news('AAPL')].sort(),
    );
  });
});
