// Seeded randomness for everything stochastic (latency models, sampling, weight init), so the same
// seed gives the same run. pure-rand's xoroshiro128+ is small, fast and well tested.
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
}

export class SeededRandom implements RandomSource {
  private readonly generator: RandomGenerator;

  constructor(readonly seed: number) {
    this.generator = xoroshiro128plus(seed);
  }

  /** Generator state, for snapshots that must resume the same sequence. */
  state(): readonly number[] {
    return this.generator.getState();
  }

  next(): number {
    // 32 random bits scaled to [0, 1); pure-rand 8's next() advances the generator in place.
    return (this.generator.next() >>> 0) / 4294967296;
  }
}
