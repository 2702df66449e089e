// The lifecycle of an actor that restores a saved snapshot before it handles messages (execution,
// portfolio): restoring -> running -> draining -> stopped. A refused snapshot is recorded as
// lastError and the actor starts without it; what restoring found (Restored, e.g. execution's count of
// intents submitted again) is kept in the context. Only lifecycle events reach the machine, never a
// message. Each actor's machine.ts builds its own from this one definition.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type SnapshotLifecycleState = 'restoring' | 'running' | 'draining' | 'stopped';

export type SnapshotLifecycleEvent<Restored extends object> =
  /** The saved snapshot failed its contract; the actor starts as it would with none. */
  | { type: 'SNAPSHOT_REFUSED'; reason: string }
  /** The snapshot was applied, or there was none; carries what restoring found. */
  | ({ type: 'RESTORED' } & Restored)
  | { type: 'STOP' }
  | { type: 'DRAINED' };

export type SnapshotLifecycleContext<Restored extends object> = Restored & { lastError: string | undefined };

export function snapshotLifecycleMachine<Restored extends object>(id: string, initial: Restored) {
  type Context = SnapshotLifecycleContext<Restored>;
  return setup({
    types: {
      context: {} as Context,
      events: {} as SnapshotLifecycleEvent<Restored>,
    },
    actions: {
      restored: assign(({ event }): Partial<Context> => {
        if (event.type !== 'RESTORED') return {};
        // The event is Restored plus its type: the rest is exactly what the context keeps.
        const { type: _type, ...restored } = event as { type: 'RESTORED' } & Restored;
        return restored as unknown as Partial<Context>;
      }),
      recordError: assign(
        ({ event }): Partial<Context> =>
          event.type === 'SNAPSHOT_REFUSED'
            ? ({ lastError: (event as { reason: string }).reason } as Partial<Context>)
            : {},
      ),
    },
  }).createMachine({
    id,
    context: { ...initial, lastError: undefined } as Context,
    initial: 'restoring',
    states: {
      restoring: {
        on: {
          SNAPSHOT_REFUSED: { actions: 'recordError' },
          RESTORED: { target: 'running', actions: 'restored' },
        },
      },
      running: { on: { STOP: 'draining' } },
      draining: { on: { DRAINED: 'stopped' } },
      stopped: { type: 'final' },
    },
  });
}

export type SnapshotLifecycleActor<Restored extends object> = ActorRefFrom<
  ReturnType<typeof snapshotLifecycleMachine<Restored>>
>;

export function startSnapshotLifecycle<Restored extends object>(
  machine: ReturnType<typeof snapshotLifecycleMachine<Restored>>,
): SnapshotLifecycleActor<Restored> {
  return createActor(machine).start();
}
