import { randomUUID } from 'node:crypto';
import type { RolloutDeviceStatus } from '../../platform/db/schema.js';
import {
  type CommandReport,
  type DeviceReport,
  nextStatus,
  rollbackOutcome,
} from './device-reports.js';
import type { RolloutEngine } from './rollout-engine.js';
import type { RolloutEvents } from './rollout-events.js';
import { reachedStatuses } from './rollout-writes.js';

/** Reports kept per device between two passes; heartbeats repeat, so old ones may go. */
const reportsPerDevice = 8;

/** Rollouts are named by UUIDs; a command id that is not one belongs to no rollout. */
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Change {
  rolloutId: string;
  deploymentId: string;
  orgId: string;
  fleetId: string;
  deviceId: string;
  releaseId: string | null;
  status: RolloutDeviceStatus;
  error: string | null;
  at: Date;
  durationMs: number;
}

/**
 * Device reports (update events and heartbeats) into per-device rollout
 * statuses. Reports are buffered as they arrive and applied by the leader in
 * one fenced transaction per pass; reports about devices no live rollout
 * reached are dropped there. A rollback command's result is kept apart: it
 * arrives after its rollout ended, and it is stored on the device's row
 * rather than moving its status.
 */
export class DeviceProgress {
  #pending = new Map<string, DeviceReport[]>();
  #rollbacks: Array<{ deviceId: string; report: CommandReport }> = [];

  constructor(
    private readonly engine: RolloutEngine,
    private readonly events: RolloutEvents,
  ) {}

  get size(): number {
    return this.#pending.size + this.#rollbacks.length;
  }

  add(deviceId: string, report: DeviceReport): void {
    if (report.kind === 'command' && report.rollback) {
      if (uuid.test(report.commandId)) this.#rollbacks.push({ deviceId, report });
      return;
    }
    const reports = this.#pending.get(deviceId);
    if (reports === undefined) this.#pending.set(deviceId, [report]);
    else {
      reports.push(report);
      if (reports.length > reportsPerDevice) reports.shift();
    }
  }

  /** Forgets what arrived: a standby does not act on it. */
  clear(): void {
    this.#pending.clear();
    this.#rollbacks = [];
  }

  /** Applies the buffered reports; returns the rollouts whose devices changed. */
  async apply(): Promise<Set<string>> {
    const pending = this.#pending;
    this.#pending = new Map();
    const rollbacks = this.#rollbacks;
    this.#rollbacks = [];
    const touched = new Set<string>();
    if (rollbacks.length > 0) await this.#recordRollbacks(rollbacks);
    if (pending.size === 0) return touched;
    const ids = [...pending.keys()];
    const changes: Change[] = [];
    await this.engine.fenced(async (tx) => {
      for (let i = 0; i < ids.length; i += 1_000) {
        const rows = await tx
          .selectFrom('rollout_devices as rd')
          .innerJoin('rollouts as r', 'r.id', 'rd.rollout_id')
          .innerJoin('deployments as d', 'd.id', 'r.deployment_id')
          .select([
            'rd.rollout_id',
            'rd.device_id',
            'rd.status',
            'rd.desired_release_id',
            'rd.targeted_at',
            'r.deployment_id',
            'r.org_id',
            'r.fleet_id',
            'r.release_id',
            'd.host_command',
          ])
          .where('r.ended_at', 'is', null)
          .where('rd.status', 'in', reachedStatuses)
          .where('rd.device_id', 'in', ids.slice(i, i + 1_000))
          .execute();
        for (const row of rows) {
          const target = {
            releaseId: row.release_id,
            commandId: row.host_command === null ? null : row.rollout_id,
          };
          let status = row.status;
          let last: { status: RolloutDeviceStatus; error: string | null; at: Date } | undefined;
          let durationMs = 0;
          for (const report of pending.get(row.device_id) ?? []) {
            const next = nextStatus(status, target, report);
            if (next === undefined) continue;
            status = next.status;
            last = { ...next, at: report.at };
            durationMs =
              report.kind === 'result' || report.kind === 'command'
                ? report.durationMs
                : Math.max(0, report.at.getTime() - (row.targeted_at?.getTime() ?? 0));
          }
          if (last === undefined) continue;
          changes.push({
            rolloutId: row.rollout_id,
            deploymentId: row.deployment_id,
            orgId: row.org_id,
            fleetId: row.fleet_id,
            deviceId: row.device_id,
            releaseId: row.release_id,
            status: last.status,
            error: last.error,
            at: last.at,
            durationMs,
          });
        }
      }
      for (const change of changes) {
        await tx
          .updateTable('rollout_devices')
          .set({ status: change.status, error: change.error, reported_at: change.at })
          .where('rollout_id', '=', change.rolloutId)
          .where('device_id', '=', change.deviceId)
          .execute();
        touched.add(change.rolloutId);
      }
    });
    for (const change of changes) {
      // Update outcomes are about releases; a rollout of a host command alone has none.
      if (change.releaseId === null) continue;
      if (change.status !== 'succeeded' && change.status !== 'failed') continue;
      this.events.update({
        v: 1,
        type: change.status === 'succeeded' ? 'update.completed' : 'update.failed',
        id: randomUUID(),
        occurred_at: change.at.toISOString(),
        device_id: change.deviceId,
        org_id: change.orgId,
        fleet_id: change.fleetId,
        rollout_id: change.rolloutId,
        deployment_id: change.deploymentId,
        release_id: change.releaseId,
        duration_ms: Math.round(change.durationMs),
        error: change.error?.slice(0, 4000) ?? null,
      });
    }
    return touched;
  }

  /**
   * Stores each rollback command's outcome on the device's row of the
   * rollout that ran it (the command id is the rollout id, 0506). The first
   * report wins: the agent runs a rollback once, the outbox may send it twice.
   */
  async #recordRollbacks(rollbacks: Array<{ deviceId: string; report: CommandReport }>) {
    await this.engine.fenced(async (tx) => {
      for (const { deviceId, report } of rollbacks)
        await tx
          .updateTable('rollout_devices')
          .set({ rollback_command: JSON.stringify(rollbackOutcome(report)) })
          .where('rollout_id', '=', report.commandId)
          .where('device_id', '=', deviceId)
          .where('targeted_at', 'is not', null)
          .where('rollback_command', 'is', null)
          .execute();
    });
  }
}
