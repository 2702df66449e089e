// Environment configuration, read once at start-up. Each bad value stops with a ConfigError that
// names the variable and the fix.
import { ConfigError } from './errors.ts';

export interface SluiceEnvironment {
  /** undefined: start or embed one (tests, demo). */
  natsUrl: string | undefined;
  natsUser: string | undefined;
  natsPassword: string | undefined;
  natsToken: string | undefined;
  natsCredsFile: string | undefined;
  natsTlsCaFile: string | undefined;
  databaseUrl: string | undefined;
  /** Number of symbol partitions in market-data subjects. */
  partitions: number;
  /** JetStream stream replicas (1 locally, 3 on a cluster). */
  streamReplicas: number;
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(
      name,
      `must be a positive integer, got "${raw}"`,
      `Set ${name} to e.g. ${fallback}.`,
    );
  }
  return value;
}

function url(name: string, raw: string | undefined, schemes: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  for (const part of raw.split(',')) {
    let parsed: URL;
    try {
      parsed = new URL(part.trim());
    } catch {
      throw new ConfigError(name, `is not a URL: "${part}"`, `Use e.g. ${schemes[0]}//127.0.0.1:port.`);
    }
    if (!schemes.includes(parsed.protocol)) {
      throw new ConfigError(name, `has scheme "${parsed.protocol}"`, `Use one of ${schemes.join(' ')}.`);
    }
  }
  return raw;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): SluiceEnvironment {
  return {
    natsUrl: url('NATS_URL', env.NATS_URL, ['nats:', 'tls:', 'ws:', 'wss:']),
    natsUser: env.NATS_USER || undefined,
    natsPassword: env.NATS_PASSWORD || undefined,
    natsToken: env.NATS_TOKEN || undefined,
    natsCredsFile: env.NATS_CREDS || undefined,
    natsTlsCaFile: env.NATS_TLS_CA || undefined,
    databaseUrl: url('DATABASE_URL', env.DATABASE_URL, ['postgres:', 'postgresql:']),
    partitions: positiveInteger('SLUICE_PARTITIONS', env.SLUICE_PARTITIONS, 4),
    streamReplicas: positiveInteger('SLUICE_STREAM_REPLICAS', env.SLUICE_STREAM_REPLICAS, 1),
  };
}
