import type { ContainerSpec } from '../runtime/container-runtime.js';

/** One thing the reconciler does to move the device toward its target. */
export type Step =
  | { action: 'pull'; service: string; image: string }
  | { action: 'create'; service: string; spec: ContainerSpec }
  | { action: 'stop'; service: string; containerId: string }
  | { action: 'start'; service: string; containerId: string }
  | { action: 'remove'; service: string; containerId: string }
  /** Everything left to do is backing off after failures: sleep until then. */
  | { action: 'wait'; untilMs: number; reason: string };

export type Action = Step['action'];

/** Identifies a step across rounds, so its failures can be counted and backed off. */
export function stepKey(step: Step): string {
  switch (step.action) {
    case 'pull':
      return `pull:${step.image}`;
    case 'create':
      return `create:${step.spec.name}`;
    case 'stop':
    case 'start':
    case 'remove':
      return `${step.action}:${step.containerId}`;
    case 'wait':
      return 'wait';
  }
}

/** How a step has failed so far. */
export interface StepFailure {
  attempts: number;
  /** No new attempt before this time (ms since epoch). */
  notBeforeMs: number;
  error: string;
}
