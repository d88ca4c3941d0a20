import { randomUUID } from 'node:crypto';
import { type DeploymentPlan, cohortBucket, defaultHealth, defaultRollback } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { type PlanDevice, planRolloutDevices } from './plan-rollout-devices.js';

const device = (fields: Partial<PlanDevice> = {}): PlanDevice => ({
  id: randomUUID(),
  labels: {},
  attributes: {},
  segment: null,
  running_version: null,
  version_lock: null,
  quarantined: false,
  running_release_id: null,
  ...fields,
});

const plan = (fields: Partial<DeploymentPlan> = {}): DeploymentPlan => ({
  release_id: 'r2',
  selector: {},
  strategy: {
    type: 'progressive',
    stages: [
      { percent: 10, min_wait_seconds: 0 },
      { percent: 50, min_wait_seconds: 0 },
      { percent: 100, min_wait_seconds: 0 },
    ],
  },
  health: defaultHealth,
  rollback: defaultRollback,
  host_command: null,
  ...fields,
});

describe('planRolloutDevices', () => {
  const fleet = Array.from({ length: 500 }, () => device());

  it('orders by cohort and places each device in the first stage whose share reaches its bucket', () => {
    const planned = planRolloutDevices(fleet, plan());
    const buckets = planned.map((p) => p.bucket);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    for (const p of planned) {
      expect(p.bucket).toBe(cohortBucket(p.id));
      expect(p.stage).toBe(p.bucket < 1000 ? 0 : p.bucket < 5000 ? 1 : 2);
    }
  });

  it('grows only: a device in a stage of a smaller plan is in the same or an earlier stage of a larger one', () => {
    const small = new Map(planRolloutDevices(fleet, plan()).map((p) => [p.id, p.stage]));
    const wider = planRolloutDevices(
      fleet,
      plan({
        strategy: {
          type: 'progressive',
          stages: [
            { percent: 20, min_wait_seconds: 0 },
            { percent: 100, min_wait_seconds: 0 },
          ],
        },
      }),
    );
    for (const p of wider) if (small.get(p.id) === 0) expect(p.stage).toBe(0);
  });

  it('skips quarantined, pinned and up-to-date devices, holds back the control group, and leaves out the unmatched', () => {
    const quarantined = device({ quarantined: true });
    const pinned = device({ version_lock: 'r1' });
    const current = device({ running_release_id: 'r2' });
    const other = device({ labels: { env: 'dev' } });
    const prod = Array.from({ length: 200 }, () => device({ labels: { env: 'prod' } }));
    const planned = planRolloutDevices(
      [quarantined, pinned, current, other, ...prod].map((d) =>
        d === other ? d : { ...d, labels: { env: 'prod' } },
      ),
      plan({
        selector: { labels: 'env=prod' },
        strategy: { type: 'immediate', holdback_percent: 20 },
      }),
    );
    const byId = new Map(planned.map((p) => [p.id, p]));
    expect(byId.get(quarantined.id)).toMatchObject({
      status: 'skipped',
      skip_reason: 'quarantined',
    });
    expect(byId.get(pinned.id)).toMatchObject({ status: 'skipped', skip_reason: 'version_locked' });
    expect(byId.get(current.id)).toMatchObject({
      status: 'skipped',
      skip_reason: 'already_on_release',
    });
    expect(byId.has(other.id)).toBe(false);
    for (const p of planned.filter((p) => p.status !== 'skipped'))
      expect(p.status).toBe(p.bucket >= 8000 ? 'held_back' : 'planned');
  });
});
