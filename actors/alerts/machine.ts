// The AlertActor's lifecycle: starting -> running <-> degraded -> draining -> stopped. Degraded while
// an alert waits for redelivery because a sink stayed down past its retry budget; running again once
// an alert reaches every sink that should have it. Draining cuts retries short, so a failure then
// changes nothing. Only delivery outcomes reach the machine, and only those that change its state.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';

export type AlertLifecycleEvent =
  | { type: 'SUBSCRIBED' }
  | { type: 'DELIVERY_FAILED'; reason: string }
  | { type: 'DELIVERED' }
  | { type: 'STOP' }
  | { type: 'DRAINED' };

export type AlertLifecycleState = 'starting' | 'running' | 'degraded' | 'draining' | 'stopped';

export interface AlertLifecycleContext {
  lastError: string | undefined;
  /** Times it went degraded. */
  outages: number;
}

export const alertLifecycleMachine = setup({
  types: {
    context: {} as AlertLifecycleContext,
    events: {} as AlertLifecycleEvent,
  },
  actions: {
    recordOutage: assign(({ context, event }) =>
      event.type === 'DELIVERY_FAILED' ? { lastError: event.reason, outages: context.outages + 1 } : {},
    ),
    recordError: assign(({ event }) => (event.type === 'DELIVERY_FAILED' ? { lastError: event.reason } : {})),
  },
}).createMachine({
  id: 'alertActor',
  context: { lastError: undefined, outages: 0 },
  initial: 'starting',
  states: {
    starting: { on: { SUBSCRIBED: 'running' } },
    running: {
      on: {
        DELIVERY_FAILED: { target: 'degraded', actions: 'recordOutage' },
        STOP: 'draining',
      },
    },
    degraded: {
      on: {
        DELIVERY_FAILED: { actions: 'recordError' },
        DELIVERED: 'running',
        STOP: 'draining',
      },
    },
    draining: { on: { DRAINED: 'stopped' } },
    stopped: { type: 'final' },
  },
});

export type AlertLifecycleActor = ActorRefFrom<typeof alertLifecycleMachine>;

export function createAlertLifecycle(): AlertLifecycleActor {
  return createActor(alertLifecycleMachine).start();
}
