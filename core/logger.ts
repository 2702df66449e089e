// pino JSON logs with run, actor and symbol fields as child bindings. Logs go to stderr so that a
// command's stdout stays its result (tables, --json) for scripts; on a terminal they go through
// pino-pretty instead. Credentials are censored wherever connection options or environments are logged.
import { type Logger, pino } from 'pino';

export type { Logger };

/** Keys that may hold a secret, at the top level or one level down (e.g. `{ options: { pass } }`). */
const SECRET_KEYS = [
  'password',
  'pass',
  'token',
  'auth_token',
  'natsPassword',
  'natsToken',
  'natsCredsFile',
  'authenticator',
  'url',
  'servers',
  'databaseUrl',
  'natsUrl',
  // The risk gate's seal key (a GateKey prints itself as [redacted] too).
  'gateKey',
  'SLUICE_GATE_KEY',
];

export function createLogger(bindings: { run?: string; actor?: string; symbol?: string } = {}): Logger {
  const options = {
    level: process.env.SLUICE_LOG_LEVEL ?? 'info',
    base: { ...bindings },
    redact: { paths: SECRET_KEYS.flatMap((key) => [key, `*.${key}`]), censor: '[redacted]' },
  };
  if (process.stderr.isTTY) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 2 } }));
  }
  return pino(options, pino.destination(2));
}
