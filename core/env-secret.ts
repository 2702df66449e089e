// Credentials from the environment or from a file (`<NAME>_FILE`, as Kubernetes mounts a Secret), so
// they never sit in a config file. Problems are ConfigErrors naming the variable (exit 2, one line).
import { readFileSync } from 'node:fs';
import { ConfigError, fileError } from './errors.ts';

/** `name` from the environment, else the trimmed contents of the file `<name>_FILE` names. */
export function envSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw fileError(`${name}_FILE`, file, error, `Point ${name}_FILE at a readable file, or set ${name}`);
  }
  if (text === '')
    throw new ConfigError(`${name}_FILE`, `${file} is empty`, `Write the value of ${name} in it`);
  return text;
}
