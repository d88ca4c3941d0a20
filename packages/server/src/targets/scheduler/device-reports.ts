import type { DeviceStateMessage, StoredDeviceEvent } from '@flock/protocol';
import type { RollbackCommandOutcome, RolloutDeviceStatus } from '../../platform/db/schema.js';

/** What a device said about an update, from an event or a heartbeat. */
export type DeviceReport =
  | { kind: 'progress'; releaseId: string; status: 'downloading' | 'installing'; at: Date }
  | {
      kind: 'result';
      releaseId: string;
      success: boolean;
      error: string | null;
      durationMs: number;
      at: Date;
    }
  | {
      kind: 'state';
      runningReleaseId: string | null;
      update: DeviceStateMessage['update'];
      at: Date;
    }
  | {
      kind: 'command';
      commandId: string;
      rollback: boolean;
      success: boolean;
      error: string | null;
      exitCode: number | null;
      timedOut: boolean;
      stdoutTail: string;
      stderrTail: string;
      durationMs: number;
      at: Date;
    };

export type CommandReport = Extract<DeviceReport, { kind: 'command' }>;

/** The report in a device event, if it is about an update. */
export function reportOfEvent(stored: StoredDeviceEvent): DeviceReport | undefined {
  const { event } = stored;
  const at = new Date(stored.received_at);
  if (event.type === 'update.progress')
    return { kind: 'progress', releaseId: event.release_id, status: event.status, at };
  if (event.type === 'update.result')
    return {
      kind: 'result',
      releaseId: event.release_id,
      success: event.success,
      error: event.error ?? null,
      durationMs: event.duration_ms,
      at,
    };
  if (event.type === 'host_command.result')
    return {
      kind: 'command',
      commandId: event.command_id,
      rollback: event.rollback,
      success: event.success,
      error: event.success
        ? null
        : event.timed_out
          ? 'the host command timed out'
          : `the host command exited with ${event.exit_code ?? 'no code'}`,
      exitCode: event.exit_code,
      timedOut: event.timed_out,
      stdoutTail: event.stdout_tail,
      stderrTail: event.stderr_tail,
      durationMs: event.duration_ms,
      at,
    };
  return undefined;
}

/** Characters of each output stream kept with a rollback command's outcome. */
const outputExcerpt = 2048;

/** A rollback command's report as stored on the rollout's device row and served by the API. */
export function rollbackOutcome(report: CommandReport): RollbackCommandOutcome {
  return {
    success: report.success,
    exit_code: report.exitCode,
    timed_out: report.timedOut,
    duration_ms: report.durationMs,
    reported_at: report.at.toISOString(),
    stdout_tail: report.stdoutTail.slice(-outputExcerpt),
    stderr_tail: report.stderrTail.slice(-outputExcerpt),
  };
}

/** What a rollout gave a device: its release, its host command (under the rollout's id), or both. */
export interface RolloutTarget {
  releaseId: string | null;
  commandId: string | null;
}

const reached = new Set<RolloutDeviceStatus>([
  'targeted',
  'downloading',
  'installing',
  'succeeded',
  'failed',
]);

/**
 * A reached device's status after a report about what the rollout gave it;
 * undefined when the report changes nothing. Heartbeats repeat the device's
 * state, so a report lost while no scheduler led is made good by the next
 * heartbeat. A success is final: a device that runs the release stays
 * counted as updated. With a release and a host command, the release's
 * outcome decides and a failed command fails the device; with a command
 * alone, the command's outcome decides.
 */
export function nextStatus(
  current: RolloutDeviceStatus,
  target: RolloutTarget,
  report: DeviceReport,
): { status: RolloutDeviceStatus; error: string | null } | undefined {
  if (!reached.has(current) || current === 'succeeded') return undefined;
  const releaseId = target.releaseId;
  let next: { status: RolloutDeviceStatus; error: string | null } | undefined;
  switch (report.kind) {
    case 'progress':
      if (report.releaseId === releaseId && current !== 'failed')
        next = { status: report.status, error: null };
      break;
    case 'result':
      if (report.releaseId === releaseId)
        next = report.success
          ? { status: 'succeeded', error: null }
          : { status: 'failed', error: report.error };
      break;
    case 'state':
      if (releaseId === null) break;
      if (report.runningReleaseId === releaseId) next = { status: 'succeeded', error: null };
      else if (report.update?.release_id === releaseId) {
        const { status } = report.update;
        if (status === 'failed') next = { status: 'failed', error: report.update.error ?? null };
        else if ((status === 'downloading' || status === 'installing') && current !== 'failed')
          next = { status, error: null };
      }
      break;
    case 'command':
      if (report.commandId !== target.commandId || report.rollback) break;
      if (!report.success) next = { status: 'failed', error: report.error };
      else if (releaseId === null) next = { status: 'succeeded', error: null };
      break;
  }
  return next === undefined || (next.status === current && next.error === null) ? undefined : next;
}
