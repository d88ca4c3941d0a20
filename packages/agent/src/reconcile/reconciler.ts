import type { DesiredStateMessage, ServiceState } from '@flock/protocol';
import type { Logger } from 'pino';
import type { ContainerInfo, ContainerRuntime } from '../runtime/container-runtime.js';
import { backoffDelay } from '../support/backoff.js';
import { errorMessage } from '../support/error-message.js';
import { Wakeup } from '../support/wakeup.js';
import type { Applied } from './applied-store.js';
import { diff, type Snapshot } from './diff.js';
import { execute } from './executors.js';
import { serviceStates } from './service-states.js';
import { type Step, type StepFailure, stepKey } from './step.js';
import { emptyTarget, type TargetState, targetFromDesired } from './target-state.js';
import { type UpdateEvent, UpdateTracker, type UpdateStatus } from './update-tracker.js';

export interface ReconcilerOptions {
  runtime: ContainerRuntime;
  log: Logger;
  intervalMs: number;
  stopTimeoutSeconds: number;
  /** What the device converged to before this start, if anything. */
  applied: Applied | undefined;
  onEvent: (event: UpdateEvent) => void;
  /** Converged to a new revision: persist it, and report state. */
  onApplied: (applied: Applied) => void;
  /** Every observation, for the log shipper. */
  onSnapshot?: (containers: readonly ContainerInfo[]) => void;
  retry?: { initialMs: number; maxMs: number };
  /** Failed attempts of one step after which the update is reported failed. */
  attemptsBeforeFailure?: number;
  now?: () => number;
}

export interface ReconcilerStatus {
  services: ServiceState[];
  update: UpdateStatus;
  runningReleaseId: string | null;
  appliedRevision: number | undefined;
}

/**
 * The loop: observe → diff → apply one round → observe again, every
 * interval and at once on a new desired state. Only this loop changes
 * containers; anything else that must (a restart command) runs through
 * `exclusive`, between rounds.
 */
export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #wakeup = new Wakeup();
  readonly #updates: UpdateTracker;
  readonly #failures = new Map<string, StepFailure>();
  #desired: DesiredStateMessage | undefined;
  #target: TargetState = emptyTarget;
  #generation = 0;
  #applied: Applied | undefined;
  #snapshot: Snapshot = { containers: [], images: new Set() };
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#applied = options.applied;
    this.#updates = new UpdateTracker(options.onEvent, this.#now);
  }

  setDesired(desired: DesiredStateMessage | undefined): void {
    this.#desired = desired;
    this.#target = targetFromDesired(desired);
    this.#generation += 1;
    // A new target deserves fresh attempts, not the backoff of the old one.
    this.#failures.clear();
    this.#updates.target(
      this.#target.releaseId,
      desired?.deployment_id,
      this.#applied?.release_id ?? null,
    );
    for (const invalid of this.#target.invalid) {
      this.#updates.failed(`service ${invalid.name}: ${invalid.problem}`);
    }
    this.#wakeup.wake();
  }

  /** Observe again now, e.g. after a container was restarted by a command. */
  wake(): void {
    this.#wakeup.wake();
  }

  status(): ReconcilerStatus {
    return {
      services: serviceStates(this.#snapshot, this.#target, this.#failures),
      update: this.#updates.status,
      runningReleaseId: this.#applied?.release_id ?? null,
      appliedRevision: this.#applied?.revision,
    };
  }

  /** Runs `work` between rounds, so it never races the reconciler. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(work);
    this.#lock = next.catch(() => undefined);
    return next;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { log, intervalMs } = this.#options;
    let observeFailures = 0;
    while (!signal.aborted) {
      let moved: boolean;
      try {
        moved = await this.exclusive(() => this.#round(signal));
        observeFailures = 0;
      } catch (error) {
        if (signal.aborted) break;
        const delay = backoffDelay(observeFailures++, this.#retry);
        log.warn(
          { err: errorMessage(error), retryInMs: delay },
          'cannot observe the container runtime',
        );
        await this.#wakeup.wait(delay, signal);
        continue;
      }
      if (!moved) await this.#wakeup.wait(intervalMs, signal);
    }
  }

  /** One observation and, unless converged, one round of steps. Returns whether it applied any. */
  async #round(signal: AbortSignal): Promise<boolean> {
    const generation = this.#generation;
    const target = this.#target;
    const snapshot = await this.#observe(target, signal);
    this.#snapshot = snapshot;
    this.#options.onSnapshot?.(snapshot.containers);
    // Without any desired state the agent knows nothing, not that nothing
    // should run: it leaves the containers alone.
    if (this.#desired === undefined || this.#desired.config.updates_paused) return false;

    const steps = diff(snapshot, target, { nowMs: this.#now(), failures: this.#failures });
    if (this.#installed(snapshot, target, steps)) this.#converged(target);
    if (steps.length === 0) return false;

    const pulls = steps.filter((s): s is Extract<Step, { action: 'pull' }> => s.action === 'pull');
    if (pulls.length > 0) this.#updates.images(pulls.map((s) => s.image));
    if (steps[0]!.action !== 'wait')
      this.#updates.phase(pulls.length > 0 ? 'downloading' : 'installing');
    for (const step of steps) {
      if (signal.aborted || generation !== this.#generation) break;
      await this.#apply(step, signal);
    }
    return true;
  }

  async #apply(step: Step, signal: AbortSignal): Promise<void> {
    const { log, runtime, stopTimeoutSeconds } = this.#options;
    const key = stepKey(step);
    if (step.action !== 'wait') log.info({ step: key, service: step.service }, 'applying step');
    try {
      await execute(step, {
        runtime,
        signal,
        stopTimeoutSeconds,
        now: this.#now,
        onPullProgress: (image, progress) => this.#updates.pullProgress(image, progress.percent),
        sleep: async (ms) => {
          await this.#wakeup.wait(ms, signal);
        },
      });
      this.#failures.delete(key);
    } catch (error) {
      if (signal.aborted) return;
      const attempts = (this.#failures.get(key)?.attempts ?? 0) + 1;
      const message = errorMessage(error);
      const delay = backoffDelay(attempts - 1, this.#retry);
      this.#failures.set(key, { attempts, notBeforeMs: this.#now() + delay, error: message });
      log.warn({ step: key, err: message, attempts, retryInMs: delay }, 'step failed');
      if (attempts >= (this.#options.attemptsBeforeFailure ?? 3))
        this.#updates.failed(`${key}: ${message}`);
    }
  }

  async #observe(target: TargetState, signal: AbortSignal): Promise<Snapshot> {
    const { runtime } = this.#options;
    const containers = await runtime.listContainers(signal);
    const present = new Set(containers.map((c) => c.image));
    const images = new Set<string>();
    for (const service of target.services) {
      const image = service.spec.image;
      if (present.has(image) || images.has(image) || (await runtime.hasImage(image, signal)))
        images.add(image);
    }
    return { containers, images };
  }

  /** Every target service has a started container of its spec, and nothing old is left. */
  #installed(snapshot: Snapshot, target: TargetState, steps: Step[]): boolean {
    if (target.invalid.length > 0) return false;
    const states = new Map(snapshot.containers.map((c) => [c.id, c.state]));
    // Restarting a service that exited is not part of installing a release.
    return steps.every((s) => s.action === 'start' && states.get(s.containerId) !== 'created');
  }

  #converged(target: TargetState): void {
    this.#updates.installed();
    const revision = this.#desired?.revision ?? 0;
    if (this.#applied?.revision === revision && this.#applied.release_id === target.releaseId)
      return;
    this.#applied = { release_id: target.releaseId, revision };
    this.#options.onApplied(this.#applied);
  }

  get #retry(): { initialMs: number; maxMs: number } {
    return this.#options.retry ?? { initialMs: 2_000, maxMs: 300_000 };
  }

  readonly #now = (): number => (this.#options.now ?? Date.now)();
}
