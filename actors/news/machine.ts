// The NewsActor's lifecycle: loading -> serving -> stopped, or failed when no sentiment model is
// active or the active one is refused at admission (the actor then does not start). Only lifecycle
// events reach the machine, never the per-item path.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';
import type { ExecutionProvider } from '../inference/onnx-runner.ts';

export type NewsLifecycleEvent =
  | { type: 'LOADED'; modelId: string; provider: ExecutionProvider }
  | { type: 'LOAD_FAILED'; reason: string }
  | { type: 'STOP' };

export type NewsLifecycleState = 'loading' | 'serving' | 'failed' | 'stopped';

export interface NewsLifecycleContext {
  modelId: string | undefined;
  provider: ExecutionProvider | undefined;
  lastError: string | undefined;
}

export const newsLifecycleMachine = setup({
  types: {
    context: {} as NewsLifecycleContext,
    events: {} as NewsLifecycleEvent,
  },
  actions: {
    adopt: assign(({ event }) =>
      event.type === 'LOADED' ? { modelId: event.modelId, provider: event.provider } : {},
    ),
    recordError: assign(({ event }) => (event.type === 'LOAD_FAILED' ? { lastError: event.reason } : {})),
  },
}).createMachine({
  id: 'newsActor',
  context: { modelId: undefined, provider: undefined, lastError: undefined },
  initial: 'loading',
  on: { STOP: '.stopped' },
  states: {
    loading: {
      on: {
        LOADED: { target: 'serving', actions: 'adopt' },
        LOAD_FAILED: { target: 'failed', actions: 'recordError' },
      },
    },
    serving: {},
    failed: { type: 'final' },
    stopped: { type: 'final' },
  },
});

export type NewsLifecycleActor = ActorRefFrom<typeof newsLifecycleMachine>;

export function createNewsLifecycle(): NewsLifecycleActor {
  return createActor(newsLifecycleMachine).start();
}
