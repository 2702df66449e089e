// Factors as plugins declared by name (the DCA manual's registry pattern, §3.8): a config names a
// factor and its parameters; the registry checks the parameters against the plugin's declaration and
// builds the factor. A registry is a value, not a process-wide singleton, so two strategies (or two
// tests) never see each other's registrations.
import { ConfigError } from '../errors.ts';
import type { BarInput } from '../money-flow.ts';

export type FactorCategory = 'momentum' | 'reversal' | 'risk' | 'money_flow';

export interface FactorParameterSpec {
  readonly description: string;
  readonly default: number;
  /** The smallest value accepted. */
  readonly min: number;
  readonly integer: boolean;
}

export interface FactorMetadata {
  /** Unique; what a config names. */
  readonly name: string;
  readonly description: string;
  readonly category: FactorCategory;
  readonly parameters: Readonly<Record<string, FactorParameterSpec>>;
}

/** A built factor: one instrument's bar history in, one number out. */
export interface Factor {
  readonly name: string;
  /** Bars it reads, ending at the as-of bar; a shorter history has no value. */
  readonly lookback: number;
  /**
   * The factor as of the last bar of `history` (at least `lookback` bars, oldest first, finite
   * positive prices, non-negative volumes). It reads only the last `lookback` bars, so it cannot see
   * anything after the as-of bar. Higher means a larger expected return (signs are set that way).
   */
  compute(history: readonly BarInput[]): number;
}

export type FactorParameters = Readonly<Record<string, number>>;

export interface FactorPlugin {
  readonly metadata: FactorMetadata;
  /** Builds the factor from parameters already checked and completed with defaults. */
  build(parameters: FactorParameters): Factor;
}

export class FactorRegistry {
  private readonly plugins = new Map<string, FactorPlugin>();

  /** Adds a plugin; a name already taken is a ConfigError (one name, one meaning). */
  register(plugin: FactorPlugin): this {
    const { name } = plugin.metadata;
    if (this.plugins.has(name)) {
      throw new ConfigError(`factor ${name}`, 'is registered twice', 'Give the new factor another name');
    }
    this.plugins.set(name, plugin);
    return this;
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.plugins.keys()].sort();
  }

  /** Every plugin's metadata, by name. */
  metadata(): FactorMetadata[] {
    return this.names().map((name) => this.plugins.get(name)!.metadata);
  }

  /**
   * Builds factor `name` with `parameters` (missing ones take their defaults). An unknown name, an
   * unknown parameter or a value out of range is a ConfigError naming it.
   */
  create(name: string, parameters: FactorParameters = {}): Factor {
    const plugin = this.plugins.get(name);
    if (plugin === undefined) {
      throw new ConfigError(`factor ${name}`, 'is not registered', `Use one of: ${this.names().join(', ')}`);
    }
    const declared = plugin.metadata.parameters;
    for (const key of Object.keys(parameters)) {
      if (!Object.hasOwn(declared, key)) {
        const known = Object.keys(declared).join(', ') || 'none';
        throw new ConfigError(`factor ${name}.${key}`, 'is not a parameter of this factor', `Use: ${known}`);
      }
    }
    const resolved: Record<string, number> = {};
    for (const [key, spec] of Object.entries(declared)) {
      const value = parameters[key] ?? spec.default;
      if (!Number.isFinite(value) || value < spec.min || (spec.integer && !Number.isInteger(value))) {
        throw new ConfigError(
          `factor ${name}.${key}`,
          `must be ${spec.integer ? 'an integer' : 'a number'} >= ${spec.min}, got ${value}`,
          `Set it to ${spec.default} (${spec.description})`,
        );
      }
      resolved[key] = value;
    }
    return plugin.build(resolved);
  }
}
