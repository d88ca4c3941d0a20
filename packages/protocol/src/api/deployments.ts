import { type Static, Type } from '@sinclair/typebox';
import { TargetSelector } from '../selector/target-selector.js';
import {
  DeploymentStrategy,
  HealthCriteria,
  HostCommand,
  RollbackPolicy,
} from './deployment-plan.js';
import { ListPage } from './list-page.js';
import { Timestamp, Uuid } from './scalars.js';

const DeploymentName = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });

export const DeploymentParams = Type.Object({ deploymentId: Type.String() });
export type DeploymentParams = Static<typeof DeploymentParams>;

export const FleetDeploymentParams = Type.Object({ fleetId: Type.String() });
export type FleetDeploymentParams = Static<typeof FleetDeploymentParams>;

/**
 * A deployment plan. `release_id` must be a release of the fleet that is not
 * archived; a plan needs a release, a host command or both. Absent
 * `selector`: every device of the fleet; absent `health` and `rollback`: the
 * documented defaults, which the response shows. Creating it changes no device.
 */
const planProperties = {
  release_id: Type.Optional(Uuid),
  selector: Type.Optional(TargetSelector),
  strategy: DeploymentStrategy,
  health: Type.Optional(HealthCriteria),
  rollback: Type.Optional(RollbackPolicy),
  host_command: Type.Optional(HostCommand),
};

export const CreateDeploymentRequest = Type.Object(
  { name: DeploymentName, ...planProperties },
  { additionalProperties: false },
);
export type CreateDeploymentRequest = Static<typeof CreateDeploymentRequest>;

/** A draft to preview: a create body, checked the same way, whose name may be left out. */
export const PreviewDeploymentRequest = Type.Object(
  { name: Type.Optional(DeploymentName), ...planProperties },
  { additionalProperties: false },
);
export type PreviewDeploymentRequest = Static<typeof PreviewDeploymentRequest>;

/**
 * Replaces the given top-level fields (`null` removes `release_id` or
 * `host_command`), only before the rollout starts; the whole resulting plan
 * is checked again.
 */
export const UpdateDeploymentRequest = Type.Object(
  {
    name: Type.Optional(DeploymentName),
    release_id: Type.Optional(Type.Union([Uuid, Type.Null()])),
    selector: Type.Optional(TargetSelector),
    strategy: Type.Optional(DeploymentStrategy),
    health: Type.Optional(HealthCriteria),
    rollback: Type.Optional(RollbackPolicy),
    host_command: Type.Optional(Type.Union([HostCommand, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateDeploymentRequest = Static<typeof UpdateDeploymentRequest>;

/** A deployment as stored: defaults filled in, so what runs is what is shown. */
export const Deployment = Type.Object({
  id: Uuid,
  org_id: Uuid,
  fleet_id: Uuid,
  name: Type.String(),
  release_id: Type.Union([Uuid, Type.Null()]),
  selector: TargetSelector,
  strategy: DeploymentStrategy,
  health: HealthCriteria,
  rollback: RollbackPolicy,
  host_command: Type.Union([HostCommand, Type.Null()]),
  /** Increments on every change; the ETag is `"r<revision>"`. */
  revision: Type.Integer(),
  created_by: Type.Object({ type: Type.String(), id: Type.String() }),
  created_at: Timestamp,
  updated_at: Timestamp,
  /** Set by the scheduler when its rollout starts; from then on the plan is fixed. */
  started_at: Type.Union([Timestamp, Type.Null()]),
});
export type Deployment = Static<typeof Deployment>;

export const DeploymentList = ListPage(Deployment);
export type DeploymentList = Static<typeof DeploymentList>;

export const DeploymentPreviewQuery = Type.Object(
  {
    /** How many device ids each list shows at most; counts are always complete. */
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
export type DeploymentPreviewQuery = Static<typeof DeploymentPreviewQuery>;

/** A count and the first `limit` device ids, in cohort order. */
export const DeviceSample = Type.Object({
  count: Type.Integer(),
  device_ids: Type.Array(Uuid),
});
export type DeviceSample = Static<typeof DeviceSample>;

export const PreviewStage = Type.Object({
  index: Type.Integer(),
  /** Share of the non-held-back targeted devices (of `segments`, when given). */
  percent: Type.Number(),
  segments: Type.Union([Type.Array(Type.String()), Type.Null()]),
  min_wait_seconds: Type.Integer(),
  /** Whether the scheduler moves on by itself or waits for an operator. */
  advance: Type.Union([Type.Literal('automatic'), Type.Literal('operator')]),
  /** Devices reached once this stage is done, earlier stages included. */
  count: Type.Integer(),
  new_in_stage: Type.Integer(),
  /** The devices this stage adds, in the order the rollout reaches them. */
  device_ids: Type.Array(Uuid),
});
export type PreviewStage = Static<typeof PreviewStage>;

/**
 * A dry run against the fleet as it is now. `targeted` devices match the
 * selector; `skipped` ones are left out for the first reason that applies,
 * in the order quarantined, version_locked (pinned to a release; only for
 * deployments of a release), already_on_release; the rest are
 * `eligible`, of which `held_back` ones (the strategy's control group) never
 * get the deployment and the others fall into stages.
 */
export const DeploymentPreview = Type.Object({
  total_in_fleet: Type.Integer(),
  targeted: Type.Integer(),
  eligible: Type.Integer(),
  skipped: Type.Object({
    quarantined: DeviceSample,
    version_locked: DeviceSample,
    already_on_release: DeviceSample,
  }),
  held_back: DeviceSample,
  stages: Type.Array(PreviewStage),
  /** Things worth a second look, like a stage that reaches nobody. */
  warnings: Type.Array(Type.String()),
});
export type DeploymentPreview = Static<typeof DeploymentPreview>;
