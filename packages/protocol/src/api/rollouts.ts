import { type Static, Type } from '@sinclair/typebox';
import { ListPage, ListQuery } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

export const RolloutParams = Type.Object({ rolloutId: Type.String() });
export type RolloutParams = Static<typeof RolloutParams>;

export const RolloutDeviceParams = Type.Object({
  rolloutId: Type.String(),
  deviceId: Type.String(),
});
export type RolloutDeviceParams = Static<typeof RolloutDeviceParams>;

export const rolloutControlActions = ['pause', 'resume', 'advance', 'abort', 'rollback'] as const;
export type RolloutControlAction = (typeof rolloutControlActions)[number];

export const rolloutIntentActions = ['start', ...rolloutControlActions] as const;
export type RolloutIntentAction = (typeof rolloutIntentActions)[number];

/**
 * `running` and `paused` are live; the rest are final: `completed` (every stage passed), `halted` /
 * `frozen` / `rolled_back` (the failure policy or an operator acted),
 * `aborted` (an operator stopped it), `failed` (it could not start, e.g. it
 * overlaps another rollout).
 */
export const rolloutStates = [
  'running',
  'paused',
  'completed',
  'halted',
  'frozen',
  'rolled_back',
  'aborted',
  'failed',
] as const;
export type RolloutState = (typeof rolloutStates)[number];

const enumOf = <T extends string>(values: readonly T[]) =>
  Type.Unsafe<T>(Type.String({ enum: [...values] }));

/** An operator's request, recorded; the scheduler acts on it within a second or two. */
export const RolloutIntent = Type.Object({
  id: Type.String(),
  rollout_id: Uuid,
  deployment_id: Uuid,
  action: enumOf(rolloutIntentActions),
  created_at: Timestamp,
  /** Null until the scheduler handled it. */
  processed_at: Type.Union([Timestamp, Type.Null()]),
  outcome: Type.Union([Type.Literal('applied'), Type.Literal('rejected'), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
});
export type RolloutIntent = Static<typeof RolloutIntent>;

export const RolloutCounts = Type.Object({
  /** Matched and waiting for a later stage. */
  planned: Type.Integer(),
  /** Reached so far, whatever they reported since. */
  targeted: Type.Integer(),
  downloading: Type.Integer(),
  installing: Type.Integer(),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  /** Matched but left out: pinned (version_lock) or quarantined. */
  skipped: Type.Integer(),
  /** The strategy's control group: never reached. */
  held_back: Type.Integer(),
});
export type RolloutCounts = Static<typeof RolloutCounts>;

/** One health gate verdict with everything it was judged on. */
export const GateEvaluation = Type.Object({
  stage: Type.Integer(),
  evaluated_at: Timestamp,
  verdict: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('wait')]),
  inputs: Type.Record(Type.String(), Type.Unknown()),
  reasons: Type.Array(Type.String()),
});
export type GateEvaluation = Static<typeof GateEvaluation>;

/** The rollback commands reverted devices ran and reported, so far. */
export const RollbackCommandCounts = Type.Object({
  succeeded: Type.Integer(),
  failed: Type.Integer(),
});
export type RollbackCommandCounts = Static<typeof RollbackCommandCounts>;

export const Rollout = Type.Object({
  id: Uuid,
  org_id: Uuid,
  fleet_id: Uuid,
  deployment_id: Uuid,
  release_id: Type.Union([Uuid, Type.Null()]),
  state: enumOf(rolloutStates),
  /** Why it paused, stopped or failed, in words. */
  reason: Type.Union([Type.String(), Type.Null()]),
  /** The stage running now, from 0; -1 before the first. */
  stage: Type.Integer(),
  stage_count: Type.Integer(),
  stage_started_at: Type.Union([Timestamp, Type.Null()]),
  /** A manual stage is done and waits for `advance`. */
  awaiting_advance: Type.Boolean(),
  counts: RolloutCounts,
  rollback_commands: RollbackCommandCounts,
  started_at: Timestamp,
  updated_at: Timestamp,
  ended_at: Type.Union([Timestamp, Type.Null()]),
  /** The latest intents, newest first. */
  intents: Type.Array(RolloutIntent),
  /** The latest gate evaluations, newest first. */
  gate_evaluations: Type.Array(GateEvaluation),
});
export type Rollout = Static<typeof Rollout>;

/** What `start` and the control routes answer: the intent, recorded. */
export const RolloutIntentAccepted = Type.Object({
  rollout_id: Uuid,
  intent: RolloutIntent,
});
export type RolloutIntentAccepted = Static<typeof RolloutIntentAccepted>;

export const rolloutDeviceStatuses = [
  'not_matched',
  'planned',
  'held_back',
  'skipped',
  'targeted',
  'downloading',
  'installing',
  'succeeded',
  'failed',
] as const;

/** How a host command run went on a device, as the agent reported it. */
export const HostCommandOutcome = Type.Object({
  /** The exit code was the expected one, within the timeout. */
  success: Type.Boolean(),
  /** Null when the command was killed (timeout, agent stopped) or could not start. */
  exit_code: Type.Union([Type.Integer(), Type.Null()]),
  timed_out: Type.Boolean(),
  duration_ms: Type.Integer({ minimum: 0 }),
  /** When the server received the report. */
  reported_at: Timestamp,
  /** The end of each stream, at most 2,048 characters. */
  stdout_tail: Type.String({ maxLength: 2048 }),
  stderr_tail: Type.String({ maxLength: 2048 }),
});
export type HostCommandOutcome = Static<typeof HostCommandOutcome>;

/**
 * Why a device was or was not reached by a rollout, where it stands in the
 * cohort order and what it reported.
 */
export const RolloutDeviceExplanation = Type.Object({
  rollout_id: Uuid,
  device_id: Uuid,
  targeted: Type.Boolean(),
  status: enumOf(rolloutDeviceStatuses),
  /** The answer in words. */
  explanation: Type.String(),
  skip_reason: Type.Union([Type.String(), Type.Null()]),
  /** The stage that reaches it (from 0); null when no stage does. */
  stage: Type.Union([Type.Integer(), Type.Null()]),
  /** Its stable bucket, 0..9999 (FNV-1a of the id): lower buckets go first. */
  cohort_bucket: Type.Integer(),
  /** How many devices of the rollout come before it in cohort order. */
  cohort_position: Type.Union([Type.Integer(), Type.Null()]),
  previous_release_id: Type.Union([Uuid, Type.Null()]),
  desired_release_id: Type.Union([Uuid, Type.Null()]),
  targeted_at: Type.Union([Timestamp, Type.Null()]),
  reported_at: Type.Union([Timestamp, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  /**
   * The deployment's rollback command on this device after a revert; null
   * until the device reports it, and for devices the rollout never reached.
   */
  rollback_command: Type.Union([HostCommandOutcome, Type.Null()]),
});
export type RolloutDeviceExplanation = Static<typeof RolloutDeviceExplanation>;

type MatchedStatus = Exclude<(typeof rolloutDeviceStatuses)[number], 'not_matched'>;
/** The statuses a device the rollout matched can have. */
const matchedStatuses = rolloutDeviceStatuses.filter(
  (status): status is MatchedStatus => status !== 'not_matched',
);

/** `?status=` narrows the list to devices in that state (planned ones included). */
export const RolloutDeviceListQuery = Type.Composite(
  [
    ListQuery,
    Type.Object({
      status: Type.Optional(enumOf(matchedStatuses)),
    }),
  ],
  { additionalProperties: false },
);
export type RolloutDeviceListQuery = Static<typeof RolloutDeviceListQuery>;

/** One device of a rollout: where it stands, what it reported, its rollback command's outcome. */
export const RolloutDeviceItem = Type.Object({
  device_id: Uuid,
  status: enumOf(matchedStatuses),
  stage: Type.Union([Type.Integer(), Type.Null()]),
  cohort_bucket: Type.Integer(),
  skip_reason: Type.Union([Type.String(), Type.Null()]),
  previous_release_id: Type.Union([Uuid, Type.Null()]),
  desired_release_id: Type.Union([Uuid, Type.Null()]),
  targeted_at: Type.Union([Timestamp, Type.Null()]),
  reported_at: Type.Union([Timestamp, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  rollback_command: Type.Union([HostCommandOutcome, Type.Null()]),
});
export type RolloutDeviceItem = Static<typeof RolloutDeviceItem>;

/** Every device the rollout matched, in cohort order (the order stages reach them). */
export const RolloutDeviceList = ListPage(RolloutDeviceItem);
export type RolloutDeviceList = Static<typeof RolloutDeviceList>;
