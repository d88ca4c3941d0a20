import { type Static, Type } from '@sinclair/typebox';
import { SegmentName } from '../selector/target-selector.js';
import { Uuid } from './scalars.js';

// Strategy and its stages are one object shape each, checked per type by
// deploymentPlanProblems: a schema union would answer a typo with an error
// for every branch instead of one that names the rule.

const enumOf = <T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>(
    Type.String({ enum: [...values], ...(description === undefined ? {} : { description }) }),
  );

export const strategyTypes = ['immediate', 'canary', 'progressive', 'manual'] as const;
export type StrategyType = (typeof strategyTypes)[number];

/** A share of the targeted devices, 0.01..100 with at most two decimals. */
const Percent = Type.Number({ exclusiveMinimum: 0, maximum: 100 });
const WaitSeconds = Type.Integer({ minimum: 0, maximum: 30 * 86_400 });
/** A rate of devices, 0..1. */
const Rate = Type.Number({ minimum: 0, maximum: 1 });

export const RolloutStageInput = Type.Object(
  {
    /** Share of the targeted devices (of the listed segments, with `segments`) reached by this stage; default 100 with segments. */
    percent: Type.Optional(Percent),
    /** Limits this stage to devices in these segments: seed 002's canary → early → general. */
    segments: Type.Optional(
      Type.Array(SegmentName, { minItems: 1, maxItems: 32, uniqueItems: true }),
    ),
    /** How long the stage holds, healthy, before the next; required for progressive stages. */
    min_wait_seconds: Type.Optional(WaitSeconds),
  },
  { additionalProperties: false },
);
export type RolloutStageInput = Static<typeof RolloutStageInput>;

/**
 * How a rollout spreads. `immediate`: everyone at once. `canary`: `percent`
 * first, everyone after `min_wait_seconds` once health gates pass.
 * `progressive`: `stages` advance automatically; `manual`: an operator
 * advances each stage. Stages are cumulative (a device stays in once
 * reached), percents strictly increase and the last stage is 100 without
 * segments. `holdback_percent` keeps a stable control group that never gets
 * this deployment; stage percents are shares of the rest.
 */
export const DeploymentStrategy = Type.Object(
  {
    type: enumOf(strategyTypes),
    percent: Type.Optional(Percent),
    min_wait_seconds: Type.Optional(WaitSeconds),
    stages: Type.Optional(Type.Array(RolloutStageInput, { minItems: 1, maxItems: 20 })),
    holdback_percent: Type.Optional(Type.Number({ minimum: 0, maximum: 50 })),
  },
  { additionalProperties: false },
);
export type DeploymentStrategy = Static<typeof DeploymentStrategy>;

export const healthAggregates = ['mean', 'max', 'p95'] as const;
export const thresholdOperators = ['<', '<=', '>', '>='] as const;

export const thresholdBaselines = ['holdback'] as const;

/**
 * A custom telemetry gate: healthy while `aggregate(metric) op value` over the
 * window, across the devices the rollout reached. With `relative_to:
 * "holdback"` the gate compares instead the reached devices' aggregate minus
 * the holdback cohort's (devices that never get the release, measured over the
 * same window), so a fleet-wide change of conditions does not fail a release.
 */
export const TelemetryThreshold = Type.Object(
  {
    metric: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z_:][A-Za-z0-9_:.]*$' }),
    aggregate: enumOf(healthAggregates),
    op: enumOf(thresholdOperators),
    value: Type.Number(),
    window_seconds: Type.Integer({ minimum: 10, maximum: 86_400 }),
    relative_to: Type.Optional(enumOf(thresholdBaselines)),
  },
  { additionalProperties: false },
);
export type TelemetryThreshold = Static<typeof TelemetryThreshold>;

/** The gates a stage must pass to advance; rates are 0..1 over the updated devices. */
export const HealthCriteria = Type.Object(
  {
    min_online_rate: Type.Optional(Rate),
    /** Share of devices that confirmed the update (OTA confirmation). */
    min_update_success_rate: Type.Optional(Rate),
    evaluation_window_seconds: Type.Integer({ minimum: 30, maximum: 7 * 86_400 }),
    /** Gates are not judged on fewer updated devices than this; default 1. */
    min_sample_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** Whether a device offline through the window counts as failed; default false. */
    offline_counts_as_failure: Type.Optional(Type.Boolean()),
    telemetry_thresholds: Type.Optional(Type.Array(TelemetryThreshold, { maxItems: 20 })),
  },
  { additionalProperties: false },
);
export type HealthCriteria = Static<typeof HealthCriteria>;

export const rollbackActions = ['revert', 'halt', 'freeze'] as const;

/**
 * What happens when the failure rate of updated devices reaches the trigger:
 * `revert` moves them back (to `target_release_id`, or null: each device's
 * previous release) and stops; `halt` stops reaching new devices; `freeze`
 * halts and also pauses every update of the devices already reached.
 */
export const RollbackPolicy = Type.Object(
  {
    trigger_failure_rate: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    action: enumOf(rollbackActions),
    target_release_id: Type.Optional(Type.Union([Uuid, Type.Null()])),
  },
  { additionalProperties: false },
);
export type RollbackPolicy = Static<typeof RollbackPolicy>;

/** A command the agent runs on the host; succeeds when it exits with `expected_exit_code` in time. */
export const HostCommand = Type.Object(
  {
    command: Type.String({ minLength: 1, maxLength: 4096, pattern: '\\S' }),
    timeout_seconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    /** Default 0. */
    expected_exit_code: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    /** Run when the deployment is reverted on the device. */
    rollback_command: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 4096, pattern: '\\S' }), Type.Null()]),
    ),
  },
  { additionalProperties: false },
);
export type HostCommand = Static<typeof HostCommand>;

/** Health gates when a deployment names none: watch ten minutes, 95 % must confirm. */
export const defaultHealth: HealthCriteria = {
  evaluation_window_seconds: 600,
  min_update_success_rate: 0.95,
};

/** Rollback when a deployment names none: stop spreading once a fifth of updates fail. */
export const defaultRollback: RollbackPolicy = { trigger_failure_rate: 0.2, action: 'halt' };
