// The InferenceActor's lifecycle: loading -> serving <-> swapping, and degraded. Only lifecycle
// events reach the machine (a model loaded, a swap asked for, a check failed, a batch failed); the
// per-row path never sends to it, since a send costs microseconds and rows are counted in millions.
import { type ActorRefFrom, assign, createActor, setup } from 'xstate';
import type { ExecutionProvider } from './onnx-runner.ts';

export type InferenceLifecycleEvent =
  /** The first model loaded and passed its checks. */
  | { type: 'LOADED'; modelId: string; provider: ExecutionProvider }
  /** No model is active, or the first one failed its checks. */
  | { type: 'LOAD_FAILED'; reason: string }
  /** A newly activated model is being loaded and checked in the background. */
  | { type: 'SWAP_REQUESTED'; modelId: string }
  | { type: 'SWAPPED'; modelId: string; provider: ExecutionProvider }
  | { type: 'SWAP_REFUSED'; modelId: string; reason: string }
  /** A batch failed at run time; its rows wait for a retry. */
  | { type: 'RUNTIME_FAILED'; reason: string }
  /** The waiting rows were scored after all. */
  | { type: 'RECOVERED' }
  | { type: 'STOP' };

export type InferenceLifecycleState = 'loading' | 'serving' | 'swapping' | 'degraded' | 'stopped';

export interface InferenceLifecycleContext {
  activeModel: string | undefined;
  provider: ExecutionProvider | undefined;
  /** The model being loaded and checked while swapping. */
  candidate: string | undefined;
  /** False after a runtime failure until a batch succeeds or a new model swaps in. */
  healthy: boolean;
  lastError: string | undefined;
  refusedModels: number;
}

export const inferenceLifecycleMachine = setup({
  types: {
    context: {} as InferenceLifecycleContext,
    events: {} as InferenceLifecycleEvent,
  },
  actions: {
    adopt: assign(({ event }) =>
      event.type === 'LOADED' || event.type === 'SWAPPED'
        ? { activeModel: event.modelId, provider: event.provider, candidate: undefined, healthy: true }
        : {},
    ),
    setCandidate: assign({
      candidate: ({ event }) => (event.type === 'SWAP_REQUESTED' ? event.modelId : undefined),
    }),
    refuse: assign(({ context, event }) =>
      event.type === 'SWAP_REFUSED'
        ? { candidate: undefined, lastError: event.reason, refusedModels: context.refusedModels + 1 }
        : {},
    ),
    recordError: assign({
      lastError: ({ context, event }) =>
        event.type === 'LOAD_FAILED' || event.type === 'RUNTIME_FAILED' ? event.reason : context.lastError,
    }),
    markUnhealthy: assign({ healthy: false }),
    markHealthy: assign({ healthy: true }),
  },
  guards: {
    canServe: ({ context }) => context.activeModel !== undefined && context.healthy,
    hasModel: ({ context }) => context.activeModel !== undefined,
  },
}).createMachine({
  id: 'inferenceActor',
  context: {
    activeModel: undefined,
    provider: undefined,
    candidate: undefined,
    healthy: true,
    lastError: undefined,
    refusedModels: 0,
  },
  initial: 'loading',
  on: { STOP: '.stopped' },
  states: {
    loading: {
      on: {
        LOADED: { target: 'serving', actions: 'adopt' },
        LOAD_FAILED: { target: 'degraded', actions: 'recordError' },
      },
    },
    serving: {
      on: {
        SWAP_REQUESTED: { target: 'swapping', actions: 'setCandidate' },
        RUNTIME_FAILED: { target: 'degraded', actions: ['recordError', 'markUnhealthy'] },
      },
    },
    // The old model keeps serving while the candidate loads; a refusal goes back to it.
    swapping: {
      on: {
        SWAPPED: { target: 'serving', actions: 'adopt' },
        SWAP_REFUSED: [
          { guard: 'canServe', target: 'serving', actions: 'refuse' },
          { target: 'degraded', actions: 'refuse' },
        ],
        RUNTIME_FAILED: { actions: ['recordError', 'markUnhealthy'] },
        RECOVERED: { actions: 'markHealthy' },
      },
    },
    degraded: {
      on: {
        SWAP_REQUESTED: { target: 'swapping', actions: 'setCandidate' },
        RECOVERED: { guard: 'hasModel', target: 'serving', actions: 'markHealthy' },
      },
    },
    stopped: { type: 'final' },
  },
});

export type InferenceLifecycleActor = ActorRefFrom<typeof inferenceLifecycleMachine>;

export function createInferenceLifecycle(): InferenceLifecycleActor {
  return createActor(inferenceLifecycleMachine).start();
}
