import type { DeviceStateMessage } from '@flock/protocol';

export type UpdateStatus = NonNullable<DeviceStateMessage['update']>;

/** An update event without the envelope (`v`, `id`, `occurred_at`) the reporter adds. */
export type UpdateEvent =
  | {
      type: 'update.progress';
      release_id: string;
      deployment_id?: string;
      status: 'downloading' | 'installing';
      progress?: number;
    }
  | {
      type: 'update.result';
      release_id: string;
      deployment_id?: string;
      success: boolean;
      error?: string;
      duration_ms: number;
    };

interface ActiveUpdate {
  releaseId: string;
  deploymentId: string | undefined;
  startedMs: number;
  phase: 'downloading' | 'installing';
  progress: Map<string, number>;
  lastReportedProgress: number;
  failed: string | undefined;
}

/**
 * Follows one release update from the first pull to the last removal and
 * says so: `update.progress` events when the phase changes or the download
 * moves by 10 %, one `update.result` when it is installed or has failed (and,
 * if it recovers after failing, another one that says it succeeded).
 */
export class UpdateTracker {
  #active: ActiveUpdate | undefined;
  #last: UpdateStatus = { release_id: null, status: 'idle' };

  constructor(
    private readonly emit: (event: UpdateEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get status(): UpdateStatus {
    const active = this.#active;
    if (active === undefined) return this.#last;
    if (active.failed !== undefined) {
      return {
        release_id: active.releaseId,
        status: 'failed',
        error: active.failed.slice(0, 2000),
      };
    }
    return {
      release_id: active.releaseId,
      status: active.phase,
      ...(active.phase === 'downloading' ? { progress: this.#percent(active) } : {}),
    };
  }

  /** The target release changed: an update starts unless it is what already runs. */
  target(
    releaseId: string | null,
    deploymentId: string | undefined,
    runningReleaseId: string | null,
  ): void {
    if (this.#active?.releaseId === releaseId && this.#active.deploymentId === deploymentId) return;
    this.#active = undefined;
    if (releaseId === null || releaseId === runningReleaseId) return;
    this.#active = {
      releaseId,
      deploymentId,
      startedMs: this.now(),
      phase: 'downloading',
      progress: new Map(),
      lastReportedProgress: -1,
      failed: undefined,
    };
  }

  /** A round is about to run: pulls mean downloading, anything else installing. */
  phase(phase: 'downloading' | 'installing'): void {
    const active = this.#active;
    if (active === undefined || (active.phase === phase && active.lastReportedProgress >= 0))
      return;
    active.phase = phase;
    active.lastReportedProgress = phase === 'downloading' ? this.#percent(active) : 100;
    this.emit({
      type: 'update.progress',
      ...this.#ids(active),
      status: phase,
      ...(phase === 'downloading' ? { progress: active.lastReportedProgress } : {}),
    });
  }

  pullProgress(image: string, percent: number | undefined): void {
    const active = this.#active;
    if (active === undefined || percent === undefined) return;
    active.progress.set(image, Math.max(0, Math.min(100, percent)));
    const overall = this.#percent(active);
    if (overall >= active.lastReportedProgress + 10) {
      active.lastReportedProgress = overall;
      this.emit({
        type: 'update.progress',
        ...this.#ids(active),
        status: 'downloading',
        progress: overall,
      });
    }
  }

  /** Registers the images to download, so progress is an average over all of them. */
  images(images: string[]): void {
    for (const image of images)
      if (!this.#active?.progress.has(image)) this.#active?.progress.set(image, 0);
  }

  failed(error: string): void {
    const active = this.#active;
    if (active === undefined || active.failed !== undefined) return;
    active.failed = error;
    this.emit({
      type: 'update.result',
      ...this.#ids(active),
      success: false,
      error: error.slice(0, 4000),
      duration_ms: this.#elapsed(active),
    });
  }

  installed(): void {
    const active = this.#active;
    if (active === undefined) return;
    this.#active = undefined;
    this.#last = { release_id: active.releaseId, status: 'succeeded' };
    this.emit({
      type: 'update.result',
      ...this.#ids(active),
      success: true,
      duration_ms: this.#elapsed(active),
    });
  }

  #ids(active: ActiveUpdate): { release_id: string; deployment_id?: string } {
    return {
      release_id: active.releaseId,
      ...(active.deploymentId === undefined ? {} : { deployment_id: active.deploymentId }),
    };
  }

  #percent(active: ActiveUpdate): number {
    if (active.progress.size === 0) return 0;
    let sum = 0;
    for (const value of active.progress.values()) sum += value;
    return Math.round(sum / active.progress.size);
  }

  #elapsed(active: ActiveUpdate): number {
    return Math.max(0, Math.round(this.now() - active.startedMs));
  }
}
