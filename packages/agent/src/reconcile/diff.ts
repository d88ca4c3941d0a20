import type { ContainerInfo } from '../runtime/container-runtime.js';
import { serviceLabel, specHashLabel } from '../runtime/container-runtime.js';
import { type Step, type StepFailure, stepKey } from './step.js';
import type { TargetService, TargetState } from './target-state.js';

/** What the device runs now, observed before every round. */
export interface Snapshot {
  /** The agent's containers, running or not. */
  containers: readonly ContainerInfo[];
  /** Which of the target's images are present locally. */
  images: ReadonlySet<string>;
}

export interface DiffContext {
  nowMs: number;
  /** Failures of earlier rounds by step key; a step is skipped while backing off. */
  failures: ReadonlyMap<string, StepFailure>;
}

/**
 * The next round of steps from `current` toward `target`, pure: creating is
 * updating from nothing. Phases run in order, and a round holds only the
 * first phase with work left: pull every new image while the old release
 * still runs, create the new containers, stop the old ones, start the new
 * ones, remove the old ones. Stopping before starting frees the host ports
 * the new containers may need; pulling first keeps downtime to a restart.
 * An empty list means the device has converged.
 */
export function diff(current: Snapshot, target: TargetState, context: DiffContext): Step[] {
  const wanted = new Map(target.services.map((s) => [s.hash, s]));
  const current_ = new Map<string, ContainerInfo>();
  const old: ContainerInfo[] = [];
  for (const container of current.containers) {
    const hash = container.labels[specHashLabel];
    // A second container with a wanted hash (a crash between create and
    // record) is surplus, like any container of an old spec.
    if (hash !== undefined && wanted.has(hash) && !current_.has(hash))
      current_.set(hash, container);
    else old.push(container);
  }
  const missing = target.services.filter((s) => !current_.has(s.hash));
  const serviceOf = (c: ContainerInfo) => c.labels[serviceLabel] ?? c.name;

  const phases: Array<() => Step[]> = [
    () =>
      unique(
        missing.filter((s) => !current.images.has(s.spec.image)),
        (s) => s.spec.image,
      ).map((s) => ({ action: 'pull', service: s.name, image: s.spec.image })),
    () => missing.map((s) => ({ action: 'create', service: s.name, spec: s.spec })),
    () =>
      old
        .filter((c) => c.state === 'running' || c.state === 'paused')
        .map((c) => ({ action: 'stop', service: serviceOf(c), containerId: c.id })),
    () =>
      target.services.flatMap((s) => {
        const container = current_.get(s.hash);
        return container !== undefined && needsStart(container, s)
          ? [{ action: 'start' as const, service: s.name, containerId: container.id }]
          : [];
      }),
    () => old.map((c) => ({ action: 'remove', service: serviceOf(c), containerId: c.id })),
  ];

  for (const phase of phases) {
    const steps = phase();
    if (steps.length === 0) continue;
    const ready = steps.filter(
      (step) => (context.failures.get(stepKey(step))?.notBeforeMs ?? 0) <= context.nowMs,
    );
    if (ready.length > 0) return ready;
    const untilMs = Math.min(
      ...steps.map((step) => context.failures.get(stepKey(step))!.notBeforeMs),
    );
    const reasons = steps.map(
      (step) => `${stepKey(step)}: ${context.failures.get(stepKey(step))!.error}`,
    );
    return [{ action: 'wait', untilMs, reason: reasons.join('; ') }];
  }
  return [];
}

/**
 * A target container that is not running is started when it was never
 * started, or when its restart policy says it should run but the engine gave
 * up on it (or lost it across a reboot). A one-shot service that exited is
 * left alone.
 */
function needsStart(container: ContainerInfo, service: TargetService): boolean {
  switch (container.state) {
    case 'created':
      return true;
    case 'exited':
    case 'stopped': {
      const restart = service.spec.restart;
      if (restart === 'always' || restart === 'unless-stopped') return true;
      return restart === 'on-failure' && container.exitCode !== 0;
    }
    default:
      return false;
  }
}

function unique<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(key(item)) && seen.add(key(item)) !== undefined);
}
