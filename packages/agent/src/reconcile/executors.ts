import type { ContainerRuntime, PullProgress } from '../runtime/container-runtime.js';
import type { Action, Step } from './step.js';

export interface ExecutorContext {
  runtime: ContainerRuntime;
  signal: AbortSignal;
  stopTimeoutSeconds: number;
  onPullProgress: (image: string, progress: PullProgress) => void;
  now: () => number;
  /** Sleeps, waking early when the target changes or the signal aborts. */
  sleep: (ms: number) => Promise<void>;
}

type Executor<A extends Action> = (
  step: Extract<Step, { action: A }>,
  context: ExecutorContext,
) => Promise<void>;

/** One executor per action: the compiler proves every step can be applied. */
export const executors: { [A in Action]: Executor<A> } = {
  pull: async (step, { runtime, signal, onPullProgress }) => {
    await runtime.pullImage(step.image, (progress) => onPullProgress(step.image, progress), signal);
  },
  create: async (step, { runtime, signal }) => {
    await runtime.createContainer(step.spec, signal);
  },
  stop: async (step, { runtime, signal, stopTimeoutSeconds }) => {
    await runtime.stopContainer(step.containerId, stopTimeoutSeconds, signal);
  },
  start: async (step, { runtime, signal }) => {
    await runtime.startContainer(step.containerId, signal);
  },
  remove: async (step, { runtime, signal }) => {
    await runtime.removeContainer(step.containerId, signal);
  },
  wait: async (step, { sleep, now }) => {
    await sleep(Math.max(0, step.untilMs - now()));
  },
};

export function execute(step: Step, context: ExecutorContext): Promise<void> {
  // TypeScript cannot correlate the union with the mapped type on its own.
  const executor = executors[step.action] as Executor<Action>;
  return executor(step as Extract<Step, { action: Action }>, context);
}
