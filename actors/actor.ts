// The one shape every actor has (NautilusTrader's Actor as the idea). An actor is made running by a
// static `start(options)`: it loads what it saved, subscribes and returns only once it handles
// messages, so no caller holds an actor that is built but not started. `status()` reports it, `stop()`
// drains its consumers and writes what it buffered. Inside, each actor is a machine (its lifecycle,
// xstate), a pure core (the rules, no I/O) and a binding (the actor class: bus, store, database).
import type { SnapshotContract } from '../schemas/snapshots.ts';
export interface Actor<Status> {
  status(): Status;
  /** Drains its consumers and writes what it buffered; called once. */
  stop(): Promise<void>;
}

/** The static side: what `start` an actor class has (checked in test/unit/actor-contract.test.ts). */
export interface ActorType<Options, Instance extends Actor<unknown>> {
  start(options: Options): Promise<Instance>;
}

/**
 * An actor whose state outlives its process (risk gate, execution, portfolio). It saves `saveState()`
 * under `snapshotKey` (saveSnapshot) after each change, before it acknowledges the message that caused
 * it; its static `start` loads it back (loadSnapshot), checked against the versioned contract of
 * schemas/snapshots.ts that the class holds as `snapshotContract`.
 */
export interface StatefulActor<Status, State> extends Actor<Status> {
  readonly snapshotKey: string;
  saveState(): State;
}

/** The static side of a stateful actor. */
export interface StatefulActorType<Options, State, Instance extends StatefulActor<unknown, State>>
  extends ActorType<Options, Instance> {
  readonly snapshotContract: SnapshotContract<State>;
}
