import type { Config } from '../platform/config/settings.js';
import type { Logger } from '../platform/log/create-logger.js';
import type { Registry } from '../platform/metrics/create-metrics.js';

export interface ReadinessCheck {
  module: string;
  ok: boolean;
  error?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: ReadinessCheck[];
}

/** What every module receives besides the exports of the modules it depends on. */
export interface ModuleContext {
  config: Config;
  log: Logger;
  metrics: Registry;
  /** Checks every started module; what /readyz answers. */
  readiness: () => Promise<ReadinessReport>;
  /** Stops the whole process: for a module that fails after it started. */
  fail: (error: Error) => void;
}

/**
 * `init` opens what the module needs and returns it running; `start` runs
 * once every module is built (an HTTP server listens only when all routes are
 * registered); `open` once every module started, to let in outside work that
 * modules started after this one handle (devices into the embedded broker).
 * Stopping calls `quiesce` on every module first, to stop taking such work
 * while those modules still run, then `stop` in reverse order. `quiesce` and
 * `stop` must work whether or not `start` or `open` ran.
 */
export interface RunningModule<Exports> {
  exports: Exports;
  start?(): Promise<void>;
  open?(): Promise<void>;
  quiesce?(): Promise<void>;
  stop?(): Promise<void>;
  /** Throws, with a reason, when the module cannot serve. */
  ready?(): Promise<void>;
}

export interface ModuleDefinition<Exports, Deps> {
  init(context: ModuleContext, deps: Deps): Promise<RunningModule<Exports>>;
}
