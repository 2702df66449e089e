// pino JSON logs with run, actor and symbol fields as child bindings; pretty output is left to
// `pino-pretty` on a terminal so production output stays machine-readable.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(bindings: { run?: string; actor?: string } = {}): Logger {
  return pino({
    level: process.env.SLUICE_LOG_LEVEL ?? 'info',
    base: { ...bindings },
    redact: { paths: ['password', 'token', '*.password', '*.token', 'url'], censor: '[redacted]' },
  });
}
