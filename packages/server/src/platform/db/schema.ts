import type { ColumnType } from 'kysely';

/** A timestamptz column the database fills in and nobody updates. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

/**
 * A jsonb column: written as JSON text, read back parsed. node-postgres sends a
 * JavaScript array as a Postgres array literal, which jsonb rejects, so writes
 * go through JSON.stringify on every backend.
 */
export type JsonColumn<T> = ColumnType<T, string, string>;

/** A jsonb column with a database default, optional on insert. */
export type JsonColumnWithDefault<T> = ColumnType<T, string | undefined, string>;

/**
 * The identity of this Flock installation: one row, created on first start,
 * kept for the life of the database.
 */
export interface InstallationTable {
  id: ColumnType<string, string | undefined, never>;
  created_at: CreatedAt;
  bootstrapped_at: Date | null;
}

/** A uuid primary key the database generates unless given. */
export type GeneratedId = ColumnType<string, string | undefined, never>;

/** int8 columns arrive as text on both backends; written as numbers. */
export type BigIntColumn = ColumnType<string, number | string, number | string>;

/** A timestamp column the caller may set. */
export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

/** A nullable timestamp column. */
export type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;

export type RoleColumn = 'owner' | 'admin' | 'developer' | 'viewer';

export interface OrgsTable {
  id: GeneratedId;
  name: string;
  created_at: CreatedAt;
}

export interface UsersTable {
  id: GeneratedId;
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  created_at: CreatedAt;
  last_login_at: NullableTimestamp;
}

export interface MembershipsTable {
  id: GeneratedId;
  org_id: string;
  user_id: string | null;
  email: string;
  role: RoleColumn;
  created_at: CreatedAt;
  joined_at: NullableTimestamp;
}

export interface ApiKeysTable {
  id: GeneratedId;
  org_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  role: RoleColumn;
  created_by_type: string;
  created_by_id: string;
  created_at: CreatedAt;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
}

export interface FleetsTable {
  id: GeneratedId;
  org_id: string;
  name: string;
  device_type: string;
  architecture: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** The last release version handed out in this fleet. */
  release_counter: ColumnType<number, number | undefined, number>;
  /** What the fleet's devices run unless a rollout or a pin says otherwise. */
  default_release_id: string | null;
  /** Incremented on every update; the ETag. */
  revision: ColumnType<number, number | undefined, number>;
}

export interface ProvisioningKeysTable {
  id: GeneratedId;
  org_id: string;
  fleet_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  expires_at: NullableTimestamp;
  max_uses: number | null;
  uses: ColumnType<number, number | undefined, number>;
  revoked_at: NullableTimestamp;
  created_by_type: string;
  created_by_id: string;
  created_at: CreatedAt;
}

export interface DevicesTable {
  /** Proposed by the device at registration. */
  id: string;
  org_id: string;
  fleet_id: string;
  name: string;
  device_type: string;
  architecture: string;
  os_version: string | null;
  agent_version: string | null;
  secret_hash: string;
  provisioning_key_id: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  last_seen_at: NullableTimestamp;
  labels: JsonColumnWithDefault<Record<string, string>>;
  attributes: JsonColumnWithDefault<Record<string, unknown>>;
  role: string | null;
  segment: string | null;
  branch: string | null;
  /** Seconds between polls for devices that poll. */
  update_interval: number | null;
  /** A pinned release: the device runs it whatever rollouts say. */
  version_lock: string | null;
  serial: string | null;
  geolocation: ColumnType<
    { latitude: number; longitude: number; accuracy_m?: number } | null,
    string | null | undefined,
    string | null
  >;
  owner: string | null;
  /** The release the device last reported running. */
  running_release_id: string | null;
  /** Safe mode: updates paused until released. */
  quarantined_at: NullableTimestamp;
  revision: ColumnType<number, number | undefined, number>;
  /** The stable cohort bucket of the id, 0..9999, computed by the database (migration 0009). */
  cohort_bucket: ColumnType<number, never, never>;
}

export interface ReleasesTable {
  id: GeneratedId;
  org_id: string;
  fleet_id: string;
  version: number;
  semver: string | null;
  notes: string | null;
  compose: JsonColumn<Record<string, unknown>>;
  content_hash: string;
  created_by_type: string;
  created_by_id: string;
  created_at: CreatedAt;
  first_deployed_at: NullableTimestamp;
  archived_at: NullableTimestamp;
}

export interface DeploymentsTable {
  id: GeneratedId;
  org_id: string;
  fleet_id: string;
  name: string;
  release_id: string | null;
  selector: JsonColumn<Record<string, unknown>>;
  strategy: JsonColumn<Record<string, unknown>>;
  health: JsonColumn<Record<string, unknown>>;
  rollback: JsonColumn<Record<string, unknown>>;
  host_command: ColumnType<
    Record<string, unknown> | null,
    string | null | undefined,
    string | null
  >;
  revision: ColumnType<number, number | undefined, number>;
  created_by_type: string;
  created_by_id: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
  started_at: NullableTimestamp;
}

export interface VariablesTable {
  id: GeneratedId;
  org_id: string;
  fleet_id: string;
  device_id: string | null;
  service: string | null;
  name: string;
  value: string | null;
  value_sealed: string | null;
  secret: boolean;
  revision: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface IdempotencyKeysTable {
  principal: string;
  key: string;
  method: string;
  path: string;
  request_hash: string;
  status: number | null;
  response_body: string | null;
  response_headers: ColumnType<
    Record<string, string> | null,
    string | null | undefined,
    string | null
  >;
  created_at: CreatedAt;
}

export interface SigningKeysTable {
  kid: string;
  algorithm: string;
  public_jwk: JsonColumn<Record<string, unknown>>;
  private_jwk_sealed: string;
  created_at: CreatedAt;
  retired_at: NullableTimestamp;
  expires_at: NullableTimestamp;
}

export interface AuditHeadsTable {
  org_id: string;
  seq: BigIntColumn;
  hash: string;
}

export interface AuditEventsTable {
  org_id: string;
  seq: BigIntColumn;
  id: string;
  occurred_at: ColumnType<Date, Date | string, never>;
  actor_type: string;
  actor_id: string;
  action: string;
  resource_type: string;
  resource_id: string;
  summary: JsonColumn<Record<string, unknown>>;
  request_id: string | null;
  source_ip: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditSinkPositionsTable {
  sink: string;
  org_id: string;
  seq: BigIntColumn;
}

/** The last desired state published to a device (docs/decisions/0330-desired-state-publisher.md). */
export interface DesiredStatesTable {
  device_id: string;
  /** The last revision handed out; reserved before publishing. */
  revision: BigIntColumn;
  /** Hash of the content last published; null while a publish is unconfirmed. */
  content_hash: string | null;
  published_at: NullableTimestamp;
}

/** One telemetry message: the standard metrics as columns, the application's in `custom`. */
export interface TelemetrySamplesTable {
  device_id: string;
  org_id: string;
  fleet_id: string | null;
  time: ColumnType<Date, Date | string, never>;
  cpu_percent: number | null;
  memory_used_bytes: BigIntColumn | null;
  memory_total_bytes: BigIntColumn | null;
  disk_used_bytes: BigIntColumn | null;
  disk_total_bytes: BigIntColumn | null;
  network_rx_bytes: BigIntColumn | null;
  network_tx_bytes: BigIntColumn | null;
  temperature_c: number | null;
  custom: ColumnType<Record<string, number> | null, string | null, never>;
}

export interface DeviceLogsTable {
  id: ColumnType<string, never, never>;
  device_id: string;
  org_id: string;
  time: ColumnType<Date, Date | string, never>;
  service: string | null;
  stream: 'stdout' | 'stderr' | 'system';
  message: string;
}

export type DeviceCommandStatus = 'sent' | 'accepted' | 'completed' | 'failed' | 'rejected';

/** A one-off command sent to a device, and what the device said about it. */
export interface DeviceCommandsTable {
  id: string;
  org_id: string;
  device_id: string;
  type: string;
  service: string | null;
  issued_by_type: string;
  issued_by_id: string;
  issued_at: ColumnType<Date, Date, never>;
  status: DeviceCommandStatus;
  acked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  detail: string | null;
}

/** One public event (`@flock/protocol` event catalogue); payload is the whole envelope. */
export interface EventsTable {
  seq: ColumnType<string, never, never>;
  id: string;
  org_id: string;
  type: string;
  fleet_id: string | null;
  device_id: string | null;
  occurred_at: ColumnType<Date, Date | string, never>;
  payload: ColumnType<Record<string, unknown>, string, never>;
  created_at: CreatedAt;
}

export type EventSubscriptionStatus = 'active' | 'paused' | 'disabled';

/** A customer's webhook: which events, where to, and the secrets that sign them. */
export interface EventSubscriptionsTable {
  id: GeneratedId;
  org_id: string;
  description: string | null;
  url: string;
  event_types: string[];
  fleet_id: string | null;
  device_id: string | null;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: NullableTimestamp;
  status: ColumnType<
    EventSubscriptionStatus,
    EventSubscriptionStatus | undefined,
    EventSubscriptionStatus
  >;
  disabled_reason: string | null;
  consecutive_failures: ColumnType<number, number | undefined, number>;
  /** Bumped by every change through the API; the ETag. */
  revision: ColumnType<number, number | undefined, number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type WebhookOutboxState = 'pending' | 'delivered' | 'dead';

/** One event owed to one subscription, until delivered or given up on. */
export interface WebhookOutboxTable {
  id: ColumnType<string, never, never>;
  subscription_id: string;
  event_seq: BigIntColumn;
  state: ColumnType<WebhookOutboxState, WebhookOutboxState | undefined, WebhookOutboxState>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  claimed_until: NullableTimestamp;
  claimed_by: string | null;
  created_at: CreatedAt;
}

/** One delivery attempt, as the delivery log shows it. */
export interface WebhookDeliveriesTable {
  id: ColumnType<string, never, never>;
  outbox_id: BigIntColumn;
  subscription_id: string;
  event_id: string;
  attempt: number;
  attempted_at: ColumnType<Date, Date | string, never>;
  success: boolean;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_excerpt: string | null;
}

export type RolloutState =
  'running' | 'paused' | 'completed' | 'halted' | 'frozen' | 'rolled_back' | 'aborted' | 'failed';

/** Who leads the scheduler, under which term (docs/decisions/0500-scheduler-leadership-and-fencing.md). */
export interface SchedulerLeadershipTable {
  id: number;
  term: BigIntColumn;
  holder: string;
  lease_until: Timestamp;
}

/** A deployment's live execution; written by the scheduler alone. */
export interface RolloutsTable {
  id: string;
  org_id: string;
  fleet_id: string;
  deployment_id: string;
  release_id: string | null;
  state: RolloutState;
  reason: string | null;
  stage: number;
  stage_count: number;
  stage_started_at: NullableTimestamp;
  awaiting_advance: ColumnType<boolean, boolean | undefined, boolean>;
  /** The scheduler term that last wrote the row. */
  term: BigIntColumn;
  assignment_seq: ColumnType<number, number | undefined, number>;
  targeted: ColumnType<number, number | undefined, number>;
  downloading: ColumnType<number, number | undefined, number>;
  installing: ColumnType<number, number | undefined, number>;
  succeeded: ColumnType<number, number | undefined, number>;
  failed: ColumnType<number, number | undefined, number>;
  skipped: ColumnType<number, number | undefined, number>;
  held_back: ColumnType<number, number | undefined, number>;
  planned: ColumnType<number, number | undefined, number>;
  started_at: Timestamp;
  updated_at: Timestamp;
  ended_at: NullableTimestamp;
}

export type RolloutDeviceStatus =
  | 'planned'
  | 'held_back'
  | 'skipped'
  | 'targeted'
  | 'downloading'
  | 'installing'
  | 'succeeded'
  | 'failed';

/** One device a rollout planned, reached, skipped or held back. */
export interface RolloutDevicesTable {
  rollout_id: string;
  device_id: string;
  stage: number | null;
  cohort_bucket: number;
  status: RolloutDeviceStatus;
  skip_reason: string | null;
  previous_release_id: string | null;
  /** What this rollout says the device runs now; null while only planned. */
  desired_release_id: string | null;
  updates_paused: ColumnType<boolean, boolean | undefined, boolean>;
  /** The rollout's assignment that last changed this row; the publisher follows it. */
  assignment_seq: number | null;
  error: string | null;
  targeted_at: NullableTimestamp;
  reported_at: NullableTimestamp;
  /** The outcome of the rollback command the device ran after a revert (migration 0010). */
  rollback_command: ColumnType<
    RollbackCommandOutcome | null,
    string | null | undefined,
    string | null
  >;
}

/** `rollout_devices.rollback_command`: the API's HostCommandOutcome, stored as it is served. */
export interface RollbackCommandOutcome {
  success: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  reported_at: string;
  stdout_tail: string;
  stderr_tail: string;
}

export type RolloutIntentAction = 'start' | 'pause' | 'resume' | 'advance' | 'abort' | 'rollback';

/** An operator's request, recorded by the API; the scheduler acts on it. */
export interface RolloutIntentsTable {
  id: ColumnType<string, never, never>;
  org_id: string;
  deployment_id: string;
  rollout_id: string;
  action: RolloutIntentAction;
  actor_type: string;
  actor_id: string;
  created_at: CreatedAt;
  processed_at: NullableTimestamp;
  outcome: 'applied' | 'rejected' | null;
  detail: string | null;
}

/** One health gate verdict and its inputs. */
export interface RolloutGateEvaluationsTable {
  id: ColumnType<string, never, never>;
  rollout_id: string;
  stage: number;
  evaluated_at: Timestamp;
  verdict: 'pass' | 'fail' | 'wait';
  inputs: JsonColumn<Record<string, unknown>>;
  reasons: JsonColumn<string[]>;
  term: BigIntColumn;
}

/** Every table as Kysely sees it; migrations/ creates them, in the same shape. */
export interface DatabaseSchema {
  installation: InstallationTable;
  orgs: OrgsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  api_keys: ApiKeysTable;
  fleets: FleetsTable;
  provisioning_keys: ProvisioningKeysTable;
  devices: DevicesTable;
  signing_keys: SigningKeysTable;
  audit_heads: AuditHeadsTable;
  audit_events: AuditEventsTable;
  audit_sink_positions: AuditSinkPositionsTable;
  releases: ReleasesTable;
  deployments: DeploymentsTable;
  variables: VariablesTable;
  idempotency_keys: IdempotencyKeysTable;
  telemetry_samples: TelemetrySamplesTable;
  device_logs: DeviceLogsTable;
  desired_states: DesiredStatesTable;
  device_commands: DeviceCommandsTable;
  events: EventsTable;
  event_subscriptions: EventSubscriptionsTable;
  webhook_outbox: WebhookOutboxTable;
  webhook_deliveries: WebhookDeliveriesTable;
  scheduler_leadership: SchedulerLeadershipTable;
  rollouts: RolloutsTable;
  rollout_devices: RolloutDevicesTable;
  rollout_intents: RolloutIntentsTable;
  rollout_gate_evaluations: RolloutGateEvaluationsTable;
}
