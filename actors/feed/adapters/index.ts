// The adapter registry: a provider id (`alpaca`, `polygon`, `ccxt:<exchange id>`) to its FeedAdapter,
// with the credentials read from the environment or from files (`<NAME>_FILE`, as Kubernetes mounts a
// Secret) and the provider's URLs overridable so a paper setup or a test can point at loopback. Each
// adapter module is imported only when asked for: `sluice feed --provider alpaca` never loads ccxt.
// Every problem is a ConfigError naming the variable or flag (the CLI prints one line, exit 2).
import type { Clock } from '../../../core/clock.ts';
import { envSecret } from '../../../core/env-secret.ts';
import { ConfigError } from '../../../core/errors.ts';
import {
  FEED_CHANNELS,
  type FeedAdapter,
  FeedAuthError,
  type FeedChannel,
  FeedSubscriptionError,
} from '../adapter.ts';

export type FeedProvider = 'alpaca' | 'polygon' | `ccxt:${string}`;

/** Overrides every adapter takes: its REST base URL and its WebSocket URL (loopback in tests). */
export const FEED_REST_URL = 'SLUICE_FEED_REST_URL';
export const FEED_WS_URL = 'SLUICE_FEED_WS_URL';

export const ALPACA_KEY_ID = 'ALPACA_API_KEY_ID';
export const ALPACA_SECRET_KEY = 'ALPACA_API_SECRET_KEY';
export const POLYGON_API_KEY = 'POLYGON_API_KEY';
export const ALPACA_DATA_FEED = 'ALPACA_DATA_FEED';

/** `CCXT_BINANCE_API_KEY` and `CCXT_BINANCE_SECRET` for exchange `binance`: optional (public data). */
export function ccxtCredentialVariables(exchange: string): { apiKey: string; secret: string } {
  const prefix = `CCXT_${exchange.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return { apiKey: `${prefix}_API_KEY`, secret: `${prefix}_SECRET` };
}

/** The credential variables of `provider` (ccxt's are optional: public market data needs none). */
export function credentialVariables(provider: string): string[] {
  if (provider.startsWith('ccxt:')) {
    return Object.values(ccxtCredentialVariables(provider.slice('ccxt:'.length)));
  }
  return provider === 'alpaca' ? [ALPACA_KEY_ID, ALPACA_SECRET_KEY] : [POLYGON_API_KEY];
}

/**
 * Every variable the registry reads for `provider`, each also as `<NAME>_FILE`: for deployment files
 * and their tests, which check that every variable they set is one Sluice reads.
 */
export function feedEnvironmentVariables(provider: FeedProvider): string[] {
  const files = [...credentialVariables(provider), FEED_REST_URL, FEED_WS_URL].flatMap((name) => [
    name,
    `${name}_FILE`,
  ]);
  return provider === 'alpaca' ? [...files, ALPACA_DATA_FEED] : files;
}

export interface FeedAdapterOptions {
  /** Receive time of every frame (ts_init of what it maps to): the wall clock live. */
  clock: Clock;
  /** The channels the feed will subscribe to (Alpaca opens only their sockets). */
  channels?: readonly FeedChannel[];
  /**
   * Only `decode` will be used (`sluice feed replay` maps recorded frames and never connects), so no
   * credentials are asked for.
   */
  decodeOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

const PROVIDER_FIX = 'Use --provider alpaca, polygon or ccxt:<exchange id> (e.g. ccxt:binance)';

/** Checks a provider id's form (not yet whether a ccxt exchange exists: createFeedAdapter does). */
export function parseFeedProvider(text: string, field = '--provider'): FeedProvider {
  if (text === 'alpaca' || text === 'polygon') return text;
  if (/^ccxt:[a-z0-9]+$/.test(text)) return text as FeedProvider;
  throw new ConfigError(field, `unknown provider "${text}"`, PROVIDER_FIX);
}

/** `trades,bars` -> the channels; an unknown or repeated name, or none, is a ConfigError. */
export function parseFeedChannels(list: readonly string[], field = '--channels'): FeedChannel[] {
  const channels = list.map((name) => name.trim());
  const fix = `Use a comma-separated subset of ${FEED_CHANNELS.join(',')}`;
  if (channels.length === 0 || channels.some((name) => name === '')) {
    throw new ConfigError(field, 'names no channel', fix);
  }
  for (const name of channels) {
    if (!(FEED_CHANNELS as readonly string[]).includes(name)) {
      throw new ConfigError(field, `unknown channel "${name}"`, fix);
    }
  }
  if (new Set(channels).size !== channels.length) throw new ConfigError(field, 'names a channel twice', fix);
  return channels as FeedChannel[];
}

/** A channel the provider does not carry (news from an exchange) is refused before connecting. */
export function checkChannels(
  adapter: FeedAdapter,
  channels: readonly FeedChannel[],
  field = '--channels',
): void {
  const missing = channels.filter((channel) => !adapter.channels.includes(channel));
  if (missing.length > 0) {
    throw new ConfigError(
      field,
      `${adapter.provider} has no ${missing.join(', ')} channel`,
      `Use ${adapter.provider}'s channels: ${adapter.channels.join(',')}`,
    );
  }
}

/**
 * A refused login or subscription is the operator's to fix, not a fault: as a ConfigError naming the
 * credential variables (or the symbols), the CLI prints one line and exits 2. Other errors unchanged.
 */
export function refusalAsConfigError(error: unknown): unknown {
  if (error instanceof FeedAuthError) {
    return new ConfigError(
      credentialVariables(error.provider).join(', '),
      error.message,
      'Check the credentials, and that the account may read this data',
    );
  }
  if (error instanceof FeedSubscriptionError) {
    return new ConfigError('symbols', error.message, 'Use symbols and channels the provider serves');
  }
  return error;
}

function required(env: NodeJS.ProcessEnv, name: string, provider: string): string {
  const value = envSecret(env, name);
  if (value === undefined) {
    throw new ConfigError(
      name,
      `is not set (${provider} needs it)`,
      `Set ${name}, or ${name}_FILE to a file holding it`,
    );
  }
  return value;
}

/** A URL override: http(s) for REST, ws(s) for streams; anything else is refused before connecting. */
function urlOverride(env: NodeJS.ProcessEnv, name: string, schemes: readonly string[]): string | undefined {
  const value = envSecret(env, name);
  if (value === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {}
  if (!parsed || !schemes.includes(parsed.protocol)) {
    throw new ConfigError(
      name,
      `is not a ${schemes.join(' or ')} URL: "${value}"`,
      `Use e.g. ${schemes[0]}//127.0.0.1:8080`,
    );
  }
  return value.replace(/\/+$/, '');
}

/** The adapter for `provider`, its credentials and URL overrides read from `options.env`. */
export async function createFeedAdapter(
  provider: FeedProvider,
  options: FeedAdapterOptions,
): Promise<FeedAdapter> {
  const env = options.env ?? process.env;
  const { clock } = options;
  const credential = (name: string) => (options.decodeOnly ? '' : required(env, name, provider));
  const restUrl = urlOverride(env, FEED_REST_URL, ['https:', 'http:']);
  const wsUrl = urlOverride(env, FEED_WS_URL, ['wss:', 'ws:']);
  if (provider === 'alpaca') {
    const { AlpacaFeedAdapter } = await import('./alpaca.ts');
    return new AlpacaFeedAdapter({
      clock,
      keyId: credential(ALPACA_KEY_ID),
      secretKey: credential(ALPACA_SECRET_KEY),
      feed: alpacaDataFeed(env),
      // Only the sockets of the channels asked for (news has a socket of its own).
      ...(options.channels ? { channels: options.channels } : {}),
      ...(restUrl ? { dataUrl: restUrl } : {}),
      ...(wsUrl ? { streamUrl: wsUrl } : {}),
    });
  }
  if (provider === 'polygon') {
    const { PolygonFeedAdapter } = await import('./polygon.ts');
    return new PolygonFeedAdapter({
      clock,
      apiKey: credential(POLYGON_API_KEY),
      ...(restUrl ? { restBase: restUrl } : {}),
      ...(wsUrl ? { wsBase: wsUrl } : {}),
    });
  }
  const exchange = parseFeedProvider(provider).slice('ccxt:'.length);
  // ccxt.pro holds a class for each exchange whose WebSocket API ccxt implements (watchTrades …).
  const { pro } = await import('ccxt');
  if (!Object.hasOwn(pro, exchange) || typeof (pro as Record<string, unknown>)[exchange] !== 'function') {
    throw new ConfigError(
      '--provider',
      `ccxt has no WebSocket exchange "${exchange}"`,
      'Use a ccxt.pro exchange id, e.g. ccxt:binance',
    );
  }
  const { CcxtFeedAdapter } = await import('./ccxt.ts');
  const names = ccxtCredentialVariables(exchange);
  const apiKey = envSecret(env, names.apiKey);
  const apiSecret = envSecret(env, names.secret);
  return new CcxtFeedAdapter({
    clock,
    exchange,
    ...(apiKey ? { credentials: { apiKey, ...(apiSecret ? { secret: apiSecret } : {}) } } : {}),
    ...(restUrl || wsUrl
      ? { urls: { ...(restUrl ? { rest: restUrl } : {}), ...(wsUrl ? { ws: wsUrl } : {}) } }
      : {}),
  });
}

/** Alpaca's stock feed: iex (free accounts) unless ALPACA_DATA_FEED says sip (all US exchanges). */
function alpacaDataFeed(env: NodeJS.ProcessEnv): 'iex' | 'sip' {
  const feed = env[ALPACA_DATA_FEED] || 'iex';
  if (feed !== 'iex' && feed !== 'sip') {
    throw new ConfigError(
      ALPACA_DATA_FEED,
      `must be iex or sip, got "${feed}"`,
      'Use iex unless the account pays for sip',
    );
  }
  return feed;
}
