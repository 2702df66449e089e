// The one shape every actor has (NautilusTrader's Actor as the idea). An actor is made running by a
// static `start(options)`: it loads what it saved, subscribes and returns only once it handles
// messages, so no caller holds an actor that is built but not started. `status()` reports it, `stop()`
// drains its consumers and writes what it buffered. Inside, each actor is a machine (its lifecycle,
// xstate), a pure core (the rules, no I/O) and a binding (the actor class: bus, store, database).
export interface Actor<Status> {
  status(): Status;
  /** Drains its consumers and writes what it buffered; called once. */
  stop(): Promise<void>;
}

/** The static side: what `start` an actor class has (checked in test/unit/actor-contract.test.ts). */
export interface ActorType<Options, Instance extends Actor<unknown>> {
  start(options: Options): Promise<Instance>;
}
