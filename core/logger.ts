// pino JSON logs with run, actor and symbol fields as child bindings. Logs go to stderr so that a
// command's stdout stays its result (tables, --json) for scripts.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(bindings: { run?: string; actor?: string } = {}): Logger {
  return pino(
    {
      level: process.env.SLUICE_LOG_LEVEL ?? 'info',
      base: { ...bindings },
      redact: { paths: ['password', 'token', '*.password', '*.token', 'url'], censor: '[redacted]' },
    },
    pino.destination(2),
  );
}
