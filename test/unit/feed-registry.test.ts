// The feed adapter registry (actors/feed/adapters/index.ts) and the run config's `feed` section: provider
// ids, channel lists, credentials from the environment or files (never in an error), URL overrides,
// channels a provider lacks, refusals as one-line ConfigErrors; the actor list with and without a feed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FeedAuthError, FeedSubscriptionError } from '../../actors/feed/adapter.ts';
import {
  checkChannels,
  createFeedAdapter,
  feedEnvironmentVariables,
  parseFeedChannels,
  parseFeedProvider,
  refusalAsConfigError,
} from '../../actors/feed/adapters/index.ts';
import { parseActorList, parseRunConfig } from '../../actors/runtime/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { repoRoot } from '../support/cli.ts';

const clock = { now: () => 0 };
const scratch = mkdtempSync(join(tmpdir(), 'sluice-feed-registry-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Throws a ConfigError whose message matches `pattern`. */
async function refuses(run: () => unknown, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => run(),
    (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
  );
}

describe('feed providers and channels', () => {
  it('provider ids: alpaca, polygon, ccxt:<exchange>; anything else names the flag', async () => {
    assert.equal(parseFeedProvider('alpaca'), 'alpaca');
    assert.equal(parseFeedProvider('ccxt:binance'), 'ccxt:binance');
    for (const bad of ['', 'ibkr', 'ccxt:', 'ccxt:Binance', 'ccxt:bin ance', 'ccxt:a.b', 'alpaca ']) {
      await refuses(() => parseFeedProvider(bad, '/feed/provider'), /^\/feed\/provider: unknown provider/);
    }
  });

  it('channel lists: known names, each once, at least one', async () => {
    assert.deepEqual(parseFeedChannels(['trades', ' bars']), ['trades', 'bars']);
    await refuses(() => parseFeedChannels(['ticks']), /--channels: unknown channel "ticks"/);
    await refuses(() => parseFeedChannels(['trades', 'trades']), /names a channel twice/);
    await refuses(() => parseFeedChannels(['']), /names no channel/);
    await refuses(() => parseFeedChannels([]), /names no channel/);
  });

  it('a channel the provider lacks is refused before connecting', async () => {
    const binance = await createFeedAdapter('ccxt:binance', { clock, env: {} });
    checkChannels(binance, ['trades', 'quotes', 'bars']);
    await refuses(
      () => checkChannels(binance, ['trades', 'bars', 'news']),
      /ccxt:binance has no news channel/,
    );
    await refuses(
      () => createFeedAdapter('ccxt:nosuch', { clock, env: {} }),
      /no WebSocket exchange "nosuch"/,
    );
    // `exchanges` is ccxt.pro's list, not an exchange.
    await refuses(() => createFeedAdapter('ccxt:exchanges', { clock, env: {} }), /no WebSocket exchange/);
  });
});

describe('feed credentials', () => {
  it('from the environment, else from <NAME>_FILE; missing ones name the variable', async () => {
    await refuses(
      () => createFeedAdapter('alpaca', { clock, env: { ALPACA_API_SECRET_KEY: 's' } }),
      /^ALPACA_API_KEY_ID: is not set \(alpaca needs it\)\. Set ALPACA_API_KEY_ID, or ALPACA_API_KEY_ID_FILE/,
    );
    await refuses(() => createFeedAdapter('polygon', { clock, env: {} }), /^POLYGON_API_KEY: is not set/);
    const file = join(scratch, 'key');
    writeFileSync(file, ' file-secret-771\n');
    const adapter = await createFeedAdapter('polygon', { clock, env: { POLYGON_API_KEY_FILE: file } });
    assert.equal(adapter.provider, 'polygon');
    const alpaca = await createFeedAdapter('alpaca', {
      clock,
      channels: ['bars'],
      env: { ALPACA_API_KEY_ID: 'k', ALPACA_API_SECRET_KEY_FILE: file },
    });
    assert.equal(alpaca.provider, 'alpaca');
  });

  it('a bad file or URL names the variable, never the value of a credential', async () => {
    const empty = join(scratch, 'empty');
    writeFileSync(empty, '  \n');
    const env = { ALPACA_API_KEY_ID: 'k', ALPACA_API_SECRET_KEY: 'secret-55' };
    await refuses(
      () =>
        createFeedAdapter('alpaca', {
          clock,
          env: { ...env, ALPACA_API_KEY_ID: '', ALPACA_API_KEY_ID_FILE: empty },
        }),
      /^ALPACA_API_KEY_ID_FILE: .*empty is empty/,
    );
    await refuses(
      () =>
        createFeedAdapter('alpaca', {
          clock,
          env: { ...env, ALPACA_API_KEY_ID: '', ALPACA_API_KEY_ID_FILE: scratch },
        }),
      /^ALPACA_API_KEY_ID_FILE: .* is a folder/,
    );
    await refuses(
      () => createFeedAdapter('alpaca', { clock, env: { ...env, SLUICE_FEED_REST_URL: 'ftp://127.0.0.1' } }),
      /^SLUICE_FEED_REST_URL: is not a https: or http: URL/,
    );
    await refuses(
      () => createFeedAdapter('alpaca', { clock, env: { ...env, ALPACA_DATA_FEED: 'otc' } }),
      /^ALPACA_DATA_FEED: must be iex or sip/,
    );
  });

  it('decode only (replay): no credentials asked for', async () => {
    const adapter = await createFeedAdapter('alpaca', { clock, decodeOnly: true, env: {} });
    assert.equal(adapter.provider, 'alpaca');
  });

  it('a refused login names the credential variables; a refused subscription the symbols', () => {
    const auth = refusalAsConfigError(new FeedAuthError('alpaca', 'auth failed (402)'));
    assert.ok(auth instanceof ConfigError);
    assert.match(auth.message, /^ALPACA_API_KEY_ID, ALPACA_API_SECRET_KEY: alpaca: authentication failed/);
    const ccxt = refusalAsConfigError(new FeedAuthError('ccxt:binance', 'bad key'));
    assert.match((ccxt as Error).message, /^CCXT_BINANCE_API_KEY, CCXT_BINANCE_SECRET: /);
    const subscription = refusalAsConfigError(new FeedSubscriptionError('polygon', 'unknown symbol ZZZZ'));
    assert.match(
      (subscription as Error).message,
      /^symbols: polygon: subscription refused: unknown symbol ZZZZ/,
    );
    const other = new Error('socket hang up');
    assert.equal(refusalAsConfigError(other), other);
  });

  it('the variables a deployment may set', () => {
    assert.deepEqual(feedEnvironmentVariables('polygon'), [
      'POLYGON_API_KEY',
      'POLYGON_API_KEY_FILE',
      'SLUICE_FEED_REST_URL',
      'SLUICE_FEED_REST_URL_FILE',
      'SLUICE_FEED_WS_URL',
      'SLUICE_FEED_WS_URL_FILE',
    ]);
    assert.ok(feedEnvironmentVariables('ccxt:kraken').includes('CCXT_KRAKEN_SECRET_FILE'));
  });
});

describe('the feed section of a run config', () => {
  const deployed = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'sluice.json'), 'utf8'));
  const { feed, ...withoutFeed } = deployed;

  it('without --actors, the feed runs only when the config has a feed section', () => {
    assert.ok(parseActorList(undefined, parseRunConfig(deployed)).has('feed'));
    const noFeed = parseRunConfig(withoutFeed);
    assert.ok(!parseActorList(undefined, noFeed).has('feed'));
    assert.ok(parseActorList(undefined, noFeed).has('risk'));
    assert.throws(
      () => parseActorList('feed,feature', noFeed),
      /\/feed: is missing, and --actors names the feed/,
    );
  });

  it('each field is checked, naming it', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...feed, provider: 'ibkr' }, /\/feed\/provider/],
      [{ ...feed, symbols: [] }, /\/feed\/symbols/],
      [{ ...feed, symbols: ['AAPL', 'AAPL'] }, /\/feed\/symbols/],
      [{ ...feed, channels: ['trades', 'smoke'] }, /\/feed\/channels/],
      [{ ...feed, staleAfterMs: 0 }, /\/feed\/staleAfterMs/],
      [{ ...feed, reconnect: { initialDelayMs: -1 } }, /\/feed\/reconnect\/initialDelayMs/],
      [{ ...feed, colour: 'red' }, /\/feed/],
    ];
    for (const [section, pattern] of bad) {
      assert.throws(() => parseRunConfig({ ...withoutFeed, feed: section }), pattern);
    }
  });
});
