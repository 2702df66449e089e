/**
 * Bad configuration or arguments. The CLI prints the message and exits 2, so the message must name
 * the field and say how to fix it.
 */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    problem: string,
    fix: string,
  ) {
    super(`${field}: ${problem}. ${fix}`);
    this.name = 'ConfigError';
  }
}
