/**
 * An error the `sluice` command reports as one line (no stack trace) and ends with `exitCode`. The
 * message names the thing at fault and how to fix it; bin/cli.ts is the one place that prints it.
 */
export abstract class SluiceError extends Error {
  abstract readonly exitCode: number;
  /** Printed before the message, e.g. `configuration error`. */
  abstract readonly kind: string;
}

/**
 * Bad configuration, arguments or input: exit 2. The message names the field (a flag, a variable, a
 * JSON pointer or a file) and says how to fix it.
 */
export class ConfigError extends SluiceError {
  readonly exitCode = 2;
  readonly kind = 'configuration error';
  constructor(
    readonly field: string,
    problem: string,
    fix: string,
  ) {
    super(`${field}: ${problem}. ${fix}`);
    this.name = 'ConfigError';
  }
}

/**
 * A service (NATS, PostgreSQL) that cannot be reached or will not take the connection: exit 3. The
 * message names the service, the setting that points at it (e.g. DATABASE_URL) and where it points,
 * which the caller gives without any password.
 */
export class UnreachableError extends SluiceError {
  readonly exitCode = 3;
  readonly kind = 'unreachable';
  constructor(
    readonly service: string,
    setting: string,
    redactedLocation: string,
    cause: string,
  ) {
    super(
      `${service} at ${redactedLocation} (${setting}): ${cause}. Start it, or set ${setting} to where it runs`,
    );
    this.name = 'UnreachableError';
  }
}

/** Node's errno codes for a path, in words. */
const PATH_PROBLEMS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'has a part that is not a folder',
  EISDIR: 'is a folder',
  EACCES: 'is not permitted',
  EPERM: 'is not permitted',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'is on a full disk',
};

/**
 * A ConfigError for a file that could not be read or written: `field` is the flag or setting that
 * named it; the problem is the errno in words (else the error's own message).
 */
export function fileError(
  field: string,
  path: string,
  error: unknown,
  fix: string,
  access: 'read' | 'write' = 'read',
): ConfigError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const problem =
    access === 'write' && code === 'ENOENT'
      ? 'is in a folder that does not exist'
      : (PATH_PROBLEMS[code] ??
        `cannot be ${access === 'write' ? 'written' : 'read'}: ${(error as Error).message}`);
  return new ConfigError(field, `${path} ${problem}`, fix);
}
