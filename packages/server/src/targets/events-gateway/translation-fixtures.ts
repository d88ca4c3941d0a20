import type {
  DeviceOfflineMessage,
  DeviceOnlineMessage,
  PublicEventType,
  RolloutEventMessage,
  RolloutEventType,
  StoredDeviceEvent,
} from '@flock/protocol';
import type { AuditRecord } from './translate-audit.js';

/*
 * One source message per public event type, shaped exactly as the api, the
 * ingester and the scheduler write them. The golden test translates each and
 * compares the result with __golden__/<type>.json.
 */

const org = '0b6f3c5e-1f43-4c1a-9d6b-3a2f1e0d9c8b';
const fleet = '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a';
const device = '6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const release = '7e6d5c4b-3a2f-4e1d-9c8b-7a6f5e4d3c2b';
const deployment = '8f7e6d5c-4b3a-4f2e-8d1c-0b9a8f7e6d5c';
const key = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';
const subscription = 'a0b1c2d3-e4f5-4a6b-8c7d-8e9f0a1b2c3d';
const at = '2026-11-22T18:00:00.000Z';

const audit = (
  action: string,
  resourceId: string,
  summary: Record<string, unknown>,
  actor = { actor_type: 'api_key', actor_id: 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e' },
): AuditRecord => ({
  id: `c0ffee00-0000-4000-8000-${action.length.toString().padStart(12, '0')}`,
  org_id: org,
  occurred_at: new Date(at),
  ...actor,
  action,
  resource_id: resourceId,
  summary,
});

export const auditFixtures = {
  'device.registered': audit(
    'device.registered',
    device,
    { fleet_id: fleet, name: 'kiosk-7', provisioning_key: 'fpk_ab12cd', reregistered: false },
    { actor_type: 'provisioning_key', actor_id: key },
  ),
  'device.deregistered': audit('device.deregistered', device, { name: 'kiosk-7', fleet_id: fleet }),
  'release.created': audit('release.created', release, {
    fleet_id: fleet,
    version: 3,
    semver: '1.4.0',
    content_hash: 'sha256:' + 'ab'.repeat(32),
    services: ['web', 'worker'],
  }),
  'deployment.created': audit('deployment.created', deployment, {
    name: 'canary 1.4',
    fleet_id: fleet,
    release_id: release,
    strategy: 'canary',
    host_command: false,
  }),
  'provisioning_key.created': audit('provisioning_key.created', key, {
    fleet_id: fleet,
    name: 'factory line 2',
    prefix: 'fpk_ab12cd',
    expires_at: '2026-12-22T18:00:00.000Z',
    max_uses: 500,
  }),
  'provisioning_key.revoked': audit('provisioning_key.revoked', key, {
    fleet_id: fleet,
    name: 'factory line 2',
    prefix: 'fpk_ab12cd',
  }),
  'subscription.disabled': audit(
    'subscription.disabled',
    subscription,
    {
      fleet_id: null,
      url_origin: 'https://hooks.example.com',
      reason: '8 consecutive failed deliveries; the last: HTTP 503',
      consecutive_failures: 8,
      last_status_code: 503,
    },
    { actor_type: 'system', actor_id: 'events-gateway' },
  ),
} satisfies Partial<Record<PublicEventType, AuditRecord>>;

export const onlineFixture: DeviceOnlineMessage = {
  v: 1,
  device_id: device,
  org_id: org,
  fleet_id: fleet,
  at,
};

export const offlineFixture: DeviceOfflineMessage = {
  v: 1,
  device_id: device,
  org_id: org,
  fleet_id: fleet,
  at,
  last_seen_at: '2026-11-22T17:58:30.000Z',
  reason: 'timeout',
};

const updateResult = (success: boolean): StoredDeviceEvent => ({
  v: 1,
  device_id: device,
  org_id: org,
  fleet_id: fleet,
  received_at: at,
  event: {
    v: 1,
    id: success ? 'evt-1' : 'evt-2',
    occurred_at: '2026-11-22T17:59:59.000Z',
    type: 'update.result',
    release_id: release,
    deployment_id: deployment,
    success,
    ...(success ? {} : { error: 'pull failed: manifest unknown' }),
    duration_ms: 42_000,
  },
});

export const updateCompletedFixture = updateResult(true);
export const updateFailedFixture = updateResult(false);

const rollout = (
  type: RolloutEventType,
  fields: Partial<RolloutEventMessage> = {},
): RolloutEventMessage => ({
  v: 1,
  type,
  id: `d0d0d0d0-0000-4000-8000-${type.length.toString().padStart(12, '0')}`,
  occurred_at: at,
  org_id: org,
  fleet_id: fleet,
  rollout_id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d',
  deployment_id: deployment,
  release_id: release,
  strategy: 'progressive',
  targeted: 40,
  updated: 38,
  failed: 1,
  stage: 1,
  stage_count: 3,
  percent: 50,
  reason: null,
  ...fields,
});

export const rolloutFixtures = {
  'rollout.started': rollout('rollout.started', {
    stage: -1,
    percent: 0,
    targeted: 0,
    updated: 0,
    failed: 0,
  }),
  'rollout.stage_advanced': rollout('rollout.stage_advanced'),
  'rollout.completed': rollout('rollout.completed', {
    stage: 2,
    percent: 100,
    updated: 79,
    targeted: 80,
  }),
  'rollout.failed': rollout('rollout.failed', { reason: 'failure rate 0.25 above 0.2' }),
  'rollout.rolled_back': rollout('rollout.rolled_back', {
    reason: 'operator asked',
    to_release_id: '3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9',
  }),
} satisfies Partial<Record<PublicEventType, RolloutEventMessage>>;

export const rolloutPausedFixture = rollout('rollout.paused', { reason: 'operator asked' });
