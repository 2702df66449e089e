// What the execution actor checks before an order intent may reach the venue: the risk gate's seal
// (core/gate-seal.ts) and, when the gate runs under a leader election, that the sealing gate still
// leads. Defence in depth behind the NATS permissions, which cannot stop a consumer's deliver
// subject from pointing at ord.intent.* (see core/gate-seal.ts). Synchronous and free of I/O.
import { type GateKey, sealProblem } from '../../core/gate-seal.ts';
import type { OrderIntent, OrderIntentV1 } from '../../schemas/messages.ts';

/** The alert code (alert.critical.unauthorised_intent) of a refused intent. */
export const UNAUTHORISED_INTENT = 'unauthorised_intent';

export class IntentGuard {
  /**
   * The highest gate term of an admitted intent. Intents arrive in ORDERS stream order, so one of
   * a lower term was stored after a newer leader's: a deposed gate's late intent.
   */
  private term: number;

  constructor(
    private readonly key: GateKey,
    restoredTerm = 0,
  ) {
    this.term = restoredTerm;
  }

  /** The highest gate term admitted so far (0 before any election), for the actor's snapshot. */
  get gateTerm(): number {
    return this.term;
  }

  /** Why `intent` must not reach the venue, or undefined when it may (its term is then noted). */
  refusal(intent: OrderIntent | OrderIntentV1): string | undefined {
    const problem = sealProblem(intent, this.key);
    if (problem !== undefined) return `unauthorised intent: ${problem}`;
    const term = intent.gate_term ?? 0;
    if (term < this.term) {
      const sealedBy = intent.gate_term === undefined ? 'a gate without a term' : `gate term ${term}`;
      return `unauthorised intent: sealed by ${sealedBy}, superseded by gate term ${this.term}`;
    }
    this.term = term;
    return undefined;
  }
}
