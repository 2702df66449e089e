// The broker registry: the run config's `trading.broker` and the environment to a LiveBroker. Real
// money is opt-in twice over: a live account needs `live: true` in the config AND the live credentials
// (SLUICE_BROKER_LIVE_KEY_ID / SLUICE_BROKER_LIVE_SECRET); a paper account (Alpaca paper, a ccxt
// exchange's sandbox) takes SLUICE_BROKER_KEY_ID / SLUICE_BROKER_SECRET. Each also as `<NAME>_FILE`.
// Credentials never sit in the config file. Every refusal is a ConfigError (one line, exit 2) raised
// before anything starts. Each adapter module is imported only when asked for.
import { envSecret } from '../../../core/env-secret.ts';
import { ConfigError } from '../../../core/errors.ts';
import { type LiveBroker, VenueFault } from '../broker-adapter.ts';
import type { LiveBrokerConfig } from '../config.ts';

export const BROKER_KEY_ID = 'SLUICE_BROKER_KEY_ID';
export const BROKER_SECRET = 'SLUICE_BROKER_SECRET';
export const BROKER_LIVE_KEY_ID = 'SLUICE_BROKER_LIVE_KEY_ID';
export const BROKER_LIVE_SECRET = 'SLUICE_BROKER_LIVE_SECRET';

const FIELD = '/trading/broker';

/** Every variable the registry reads, each also as `<NAME>_FILE` (for the deployment files' tests). */
export function brokerEnvironmentVariables(): string[] {
  return [BROKER_KEY_ID, BROKER_SECRET, BROKER_LIVE_KEY_ID, BROKER_LIVE_SECRET].flatMap((name) => [
    name,
    `${name}_FILE`,
  ]);
}

/** The account a broker config names: its credentials, and whether it is real money. */
export interface BrokerAccount {
  live: boolean;
  keyId: string;
  secret: string;
  /** ccxt: the exchange's sandbox (always the opposite of live). */
  sandbox: boolean;
}

/**
 * Checks the live opt-in and reads the credentials. Refused: `live: true` without the live credentials
 * (said plainly when only paper ones are set), a ccxt exchange outside its sandbox without `live: true`,
 * a sandbox asked for with `live: true`, and missing paper credentials.
 */
export function brokerAccount(config: LiveBrokerConfig, env: NodeJS.ProcessEnv = process.env): BrokerAccount {
  const live = config.live === true;
  if (config.kind === 'ccxt' && config.sandbox === true && live) {
    throw new ConfigError(
      `${FIELD}/sandbox`,
      'is true with live: true; a sandbox holds no real money',
      'Drop sandbox to trade live, or drop live to trade in the sandbox',
    );
  }
  if (config.kind === 'ccxt' && config.sandbox === false && !live) {
    throw new ConfigError(
      `${FIELD}/sandbox`,
      `is false without live: true: ${config.exchange} outside its sandbox is real money`,
      'Set live: true and the live credentials to trade real money, or drop sandbox: false',
    );
  }
  if (!live) {
    return {
      live,
      keyId: required(env, BROKER_KEY_ID, `${config.kind} paper trading`),
      secret: required(env, BROKER_SECRET, `${config.kind} paper trading`),
      sandbox: true,
    };
  }
  const keyId = envSecret(env, BROKER_LIVE_KEY_ID);
  const secret = envSecret(env, BROKER_LIVE_SECRET);
  if (keyId !== undefined && secret !== undefined) return { live, keyId, secret, sandbox: false };
  const missing = keyId === undefined ? BROKER_LIVE_KEY_ID : BROKER_LIVE_SECRET;
  const paperOnly = envSecret(env, BROKER_KEY_ID) !== undefined;
  throw new ConfigError(
    missing,
    paperOnly
      ? 'is not set: live: true with paper credentials only'
      : 'is not set (live: true trades real money and needs the live credentials)',
    `Set ${BROKER_LIVE_KEY_ID} and ${BROKER_LIVE_SECRET} (or their _FILE forms) to trade real money, or drop live: true to trade on paper`,
  );
}

function required(env: NodeJS.ProcessEnv, name: string, purpose: string): string {
  const value = envSecret(env, name);
  if (value === undefined) {
    throw new ConfigError(
      name,
      `is not set (${purpose} needs it)`,
      `Set ${name}, or ${name}_FILE to a file holding it`,
    );
  }
  return value;
}

/** How a broker kind is built, once its adapter exists; kinds without one are refused by name. */
type BrokerFactory<K extends LiveBrokerConfig['kind']> = (
  config: Extract<LiveBrokerConfig, { kind: K }>,
  account: BrokerAccount,
) => Promise<LiveBroker>;

const factories: { [K in LiveBrokerConfig['kind']]?: BrokerFactory<K> } = {
  alpaca: async (config, account) => {
    const { createAlpacaBroker } = await import('./alpaca.ts');
    return createAlpacaBroker({
      keyId: account.keyId,
      secretKey: account.secret,
      paper: !account.live,
      ...(config.baseUrl ? { baseUrl: config.baseUrl } : {}),
      ...(config.streamUrl ? { streamUrl: config.streamUrl } : {}),
      ...(config.requestTimeoutMs !== undefined ? { requestTimeoutMs: config.requestTimeoutMs } : {}),
    });
  },
  ccxt: async (config, account) => {
    const { createCcxtBroker } = await import('./ccxt.ts');
    try {
      return createCcxtBroker({
        exchange: config.exchange,
        apiKey: account.keyId,
        secret: account.secret,
        sandbox: account.sandbox,
        symbols: config.symbols,
        ...(config.restUrl ? { restUrl: config.restUrl } : {}),
        ...(config.wsUrl ? { wsUrl: config.wsUrl } : {}),
        ...(config.requestTimeoutMs !== undefined ? { requestTimeoutMs: config.requestTimeoutMs } : {}),
      });
    } catch (error) {
      // An exchange the adapter does not speak is a config mistake, said in one line.
      throw new ConfigError(`${FIELD}/exchange`, (error as Error).message, 'Use exchange: binance');
    }
  },
};

/** The kinds of broker this build can trade at. */
export function brokerKinds(): LiveBrokerConfig['kind'][] {
  return Object.keys(factories) as LiveBrokerConfig['kind'][];
}

/**
 * The LiveBroker a config names, not yet connected. Refusals (the opt-in, credentials, a kind this
 * build has no adapter for) are ConfigErrors, raised before anything connects.
 */
export async function createLiveBroker(
  config: LiveBrokerConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LiveBroker> {
  const account = brokerAccount(config, env);
  const factory = factories[config.kind] as BrokerFactory<typeof config.kind> | undefined;
  if (factory === undefined) {
    const kinds = brokerKinds();
    throw new ConfigError(
      `${FIELD}/kind`,
      `this build has no ${config.kind} broker adapter`,
      kinds.length > 0 ? `Use one of: simulated, ${kinds.join(', ')}` : 'Use simulated',
    );
  }
  return factory(config, account);
}

/**
 * A broker that refused the credentials at start is the operator's to fix: a ConfigError naming the
 * variables (one line, exit 2). Other errors unchanged.
 */
export function brokerRefusalAsConfigError(error: unknown, live: boolean): unknown {
  if (error instanceof VenueFault && error.kind === 'unauthorised') {
    const [keyId, secret] = live ? [BROKER_LIVE_KEY_ID, BROKER_LIVE_SECRET] : [BROKER_KEY_ID, BROKER_SECRET];
    return new ConfigError(
      `${keyId}, ${secret}`,
      `the broker refused the credentials: ${error.message}`,
      live
        ? 'Use the live account’s API key (they differ from the paper keys)'
        : 'Use the paper account’s API key (they differ from the live keys)',
    );
  }
  return error;
}
