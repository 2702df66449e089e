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

/** Query parameters of a connection URL that may hold a secret (pg reads `?password=`). */
const SECRET_PARAMETER = /pass|secret|token/i;

/**
 * `url` without its password, for output. Also for a string URL cannot parse (it is shown in the
 * error that refuses it): only its scheme and what follows its last `@` are kept, and a string with
 * no `scheme://` is not shown at all, since it cannot be told apart from a secret.
 */
export function redactUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  // An opaque URL (`user:pw@host` read as scheme `user:`) keeps its password in the path.
  if (parsed?.host) {
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (SECRET_PARAMETER.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
  if (!scheme) return '(value not shown)';
  const at = url.lastIndexOf('@');
  return at < 0 ? url : `${scheme}***@${url.slice(at + 1)}`;
}

function url(name: string, raw: string | undefined, schemes: string[]): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const example = `Use e.g. ${schemes[0]}//user:password@127.0.0.1:port`;
  for (const part of raw.split(',')) {
    let parsed: URL;
    try {
      parsed = new URL(part.trim());
    } catch {
      throw new ConfigError(name, `is not a URL: "${redactUrl(part.trim())}"`, example);
    }
    if (!schemes.includes(parsed.protocol)) {
      throw new ConfigError(name, `has scheme "${parsed.protocol}"`, `Use one of ${schemes.join(' ')}`);
    }
    // Clients decode these later and would fail with a bare "URI malformed".
    for (const [field, text] of [
      ['user', parsed.username],
      ['password', parsed.password],
      ['path', parsed.pathname],
    ] as const) {
      try {
        decodeURIComponent(text);
      } catch {
        throw new ConfigError(
          name,
          `has a bad %-escape in its ${field}: "${redactUrl(part.trim())}"`,
          'Write a literal % as %25',
        );
      }
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
