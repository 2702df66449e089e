// The `sluice run` configuration file: one JSON document naming the feature set, partitions, strategy
// (also the model registry key), the trading section (the same as a backtest config's), the HTTP port
// and the alert sinks. Each actor's part is its own schema (actors/*/config.ts), composed here.
// Checked against a TypeBox schema; the first problem is a ConfigError naming the field.
import { type Static, Type } from '@sinclair/typebox';
import { checkConfig, readJsonFile } from '../../core/config-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { GATE_KEY_VARIABLE, GateKey } from '../../core/gate-seal.ts';
import { BrokerConfigSchema } from '../execution/config.ts';
import { BarIntervalSchema, FeatureSetNameSchema } from '../feature/config.ts';
import { FEED_CHANNELS } from '../feed/adapter.ts';
import { InferenceOptionsProperties, StrategyNameSchema } from '../inference/config.ts';
import { parseRiskLimits } from '../risk/limits.ts';
import { TradingSectionSchema } from '../trading-config.ts';

export const ACTOR_NAMES = [
  'feed',
  'feature',
  'inference',
  'news',
  'risk',
  'execution',
  'portfolio',
  'alerts',
] as const;
export type ActorName = (typeof ACTOR_NAMES)[number];

const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
const Millis = Type.Integer({ minimum: 0 });

/** A rate alert (actors/alerts/rate-threshold.ts): `threshold` events within `windowMs` raise it. */
const RateAlertSchema = Type.Object(
  {
    threshold: Type.Optional(Type.Integer({ minimum: 1 })),
    windowMs: Type.Optional(Type.Integer({ minimum: 1 })),
    severity: Type.Optional(Severity),
  },
  { additionalProperties: false },
);

const SinkSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    url: Type.String({ pattern: '^https?://' }),
    format: Type.Union([Type.Literal('json'), Type.Literal('slack')]),
    severities: Type.Array(Severity, { minItems: 1 }),
    maxPerMinute: Type.Optional(Type.Integer({ minimum: 1 })),
    initialBackoffMs: Type.Optional(Millis),
    maxBackoffMs: Type.Optional(Millis),
    retryBudgetMs: Type.Optional(Millis),
    requestTimeoutMs: Type.Optional(Millis),
  },
  { additionalProperties: false },
);

/** The live market-data feed (actors/feed/actor.ts): one provider, its symbols and channels. */
const FeedSectionSchema = Type.Object(
  {
    /** `alpaca`, `polygon` or `ccxt:<exchange id>`; credentials come from the environment. */
    provider: Type.String({ pattern: '^(alpaca|polygon|ccxt:[a-z0-9]+)$' }),
    symbols: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true }),
    channels: Type.Array(Type.Union(FEED_CHANNELS.map((channel) => Type.Literal(channel))), {
      minItems: 1,
      uniqueItems: true,
    }),
    /** Every raw frame to the RAW stream as well, for `sluice feed replay`. */
    record: Type.Optional(Type.Boolean()),
    /** No frame for this long: alert.warning.feed_stale, then a catch-up backfill. */
    staleAfterMs: Type.Optional(Type.Integer({ minimum: 1 })),
    reconnect: Type.Optional(
      Type.Object(
        { initialDelayMs: Type.Optional(Millis), maxDelayMs: Type.Optional(Millis) },
        { additionalProperties: false },
      ),
    ),
    /** Frames held in memory at most while JetStream is behind (the feed then sheds and backfills). */
    maxQueuedFrames: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

export const RunConfigSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
    featureSet: FeatureSetNameSchema,
    barInterval: BarIntervalSchema,
    /**
     * Symbol partitions this process owns (feature actor); default all of SLUICE_PARTITIONS. With
     * `featureLeases`, the partitions it prefers: it also stands by for the others.
     */
    partitions: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 })),
    /**
     * Share the partitions with other feature processes: each partition is leased to one process at
     * a time (KV bucket `bucket`, default `sluice_partitions`) and moves to another when its holder
     * stops renewing for `leaseMs`.
     */
    featureLeases: Type.Optional(
      Type.Object(
        {
          leaseMs: Type.Integer({ minimum: 500 }),
          bucket: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
          standbyDelayMs: Type.Optional(Millis),
        },
        { additionalProperties: false },
      ),
    ),
    /** Strategy name: signals go to sig.<strategy>.*, its active model is read from the registry. */
    strategy: StrategyNameSchema,
    /** Registry key of the news sentiment model; default `news-sentiment`. */
    newsModelKey: Type.Optional(Type.String({ minLength: 1 })),
    inference: Type.Optional(
      Type.Object(
        {
          ...InferenceOptionsProperties,
          idleFlushMs: Type.Optional(Millis),
        },
        { additionalProperties: false },
      ),
    ),
    /** The backtest's trading section, and where orders go: `broker` (the simulated venue unless said). */
    trading: Type.Object(
      { ...TradingSectionSchema.properties, broker: Type.Optional(BrokerConfigSchema) },
      { additionalProperties: false },
    ),
    /** Needed where the feed actor runs; without it `sluice run` runs every other actor. */
    feed: Type.Optional(FeedSectionSchema),
    /** Held until positions are reconciled; `halted` unless said otherwise (fail closed). */
    startState: Type.Optional(Type.Union([Type.Literal('halted'), Type.Literal('reducing')])),
    snapshotBucket: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
    http: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        /**
         * Address /health, /ready and /metrics listen on: 127.0.0.1 (this machine only) unless set,
         * e.g. to 0.0.0.0 in a container that probes and scrapes reach from outside.
         */
        host: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    metrics: Type.Optional(
      Type.Object({ pollIntervalMs: Type.Integer({ minimum: 100 }) }, { additionalProperties: false }),
    ),
    alerts: Type.Optional(
      Type.Object(
        {
          dedupeWindowMs: Type.Optional(Millis),
          sinks: Type.Array(SinkSchema),
          /** `threshold` dead letters within `windowMs` raise a dead_letter_rate alert (default 100 per 60 s). */
          deadLetterRate: Type.Optional(RateAlertSchema),
          /**
           * `threshold` market messages of one partition rejected by the feature actor (late, out of
           * order, duplicate, invalid) within `windowMs` of their ts_init raise feature_rejection_rate
           * (default 100 per 60 s). Raised by the feature actor, so it applies where that runs.
           */
          featureRejectionRate: Type.Optional(RateAlertSchema),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * A consumer held up by one message this long raises alert.critical.consumer_stuck and turns /ready
     * false until it moves on (default 60 s).
     */
    stuckAfterMs: Type.Optional(Type.Integer({ minimum: 100 })),
    /** How long stopping (SIGTERM) may drain and flush before the process exits anyway (default 30 s). */
    drainTimeoutMs: Type.Optional(Millis),
    /**
     * A message stamped more than `maxFutureSkewMs` ahead of its ts_init or of this process's clock is
     * dead-lettered before any actor sees it (streams/admission.ts; default one day).
     */
    admission: Type.Optional(
      Type.Object(
        { maxFutureSkewMs: Type.Optional(Type.Integer({ minimum: 1 })) },
        { additionalProperties: false },
      ),
    ),
    seed: Type.Integer(),
  },
  { additionalProperties: false },
);

export type RunConfig = Static<typeof RunConfigSchema>;

export function parseRunConfig(raw: unknown): RunConfig {
  const config = checkConfig(RunConfigSchema, raw, 'See deploy/sluice.json for a complete example');
  parseRiskLimits(config.trading.limits, '/trading/limits');
  return config;
}

export function readRunConfig(path: string): RunConfig {
  return parseRunConfig(readJsonFile(path));
}

/**
 * `--actors feature,risk` → the set; unknown names are a ConfigError. Without a list, every actor,
 * the feed only when the config has a `feed` section (without a config, every actor).
 */
export function parseActorList(list: string | undefined, config?: Pick<RunConfig, 'feed'>): Set<ActorName> {
  if (list === undefined) {
    return new Set(ACTOR_NAMES.filter((name) => name !== 'feed' || config === undefined || config.feed));
  }
  const names = list.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(ACTOR_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new ConfigError(
      '--actors',
      `unknown actor ${unknown.join(', ')}`,
      `Use a comma-separated subset of ${ACTOR_NAMES.join(',')}`,
    );
  }
  if (names.includes('feed') && config && !config.feed) {
    throw new ConfigError(
      '/feed',
      'is missing, and --actors names the feed',
      'Add a feed section (provider, symbols, channels; see README "Going live")',
    );
  }
  return new Set(names as ActorName[]);
}

/**
 * The risk gate's seal key from SLUICE_GATE_KEY when this process runs the risk gate or the
 * execution actor (both need the same one), else undefined. Missing or malformed: a ConfigError
 * (exit 2) that says how to make one, before anything starts. It is never read from the run config
 * file, so the key stays out of files that are shared and committed.
 */
export function gateKeyFor(
  actors: ReadonlySet<ActorName>,
  env: NodeJS.ProcessEnv = process.env,
): GateKey | undefined {
  if (!actors.has('risk') && !actors.has('execution')) return undefined;
  return GateKey.fromHex(env[GATE_KEY_VARIABLE]);
}
