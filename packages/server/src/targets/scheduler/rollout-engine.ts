import {
  type DeploymentPlan,
  type RolloutStage,
  internalTopics,
  rolloutStages,
} from '@flock/protocol';
import type { Selectable } from 'kysely';
import type { AuditEvent } from '../../platform/audit/audit-event.js';
import type { Bus } from '../../platform/bus/bus.js';
import type { Database, Tx } from '../../platform/db/database.js';
import type { RolloutIntentsTable, RolloutState } from '../../platform/db/schema.js';
import { deviceLiveKeys } from '../../platform/kv/device-live-keys.js';
import type { KvStore } from '../../platform/kv/kv-store.js';
import type { Logger } from '../../platform/log/create-logger.js';
import { deploymentPlanOf } from '../../platform/rollouts/deployment-plan-of.js';
import { rolloutOverlaps } from '../../platform/rollouts/rollout-overlaps.js';
import { failureTrigger } from './failure-policy.js';
import { evaluateGate, type GateInputs, type GateVerdict } from './health-gate.js';
import type { PendingRolloutEvent, RolloutEvents, RolloutRow } from './rollout-events.js';
import {
  auditRolloutChange,
  freezeDevices,
  insertPlan,
  reachedStatuses,
  recount,
  revertDevices,
  type RolloutCountsRow,
  storeCounts,
  targetDevices,
} from './rollout-writes.js';
import type { SchedulerLeadership } from './scheduler-leadership.js';
import { gateTelemetry } from './gate-telemetry.js';

export interface RolloutEngineOptions {
  database: Database;
  kv: KvStore;
  bus: Bus;
  leadership: SchedulerLeadership;
  events: RolloutEvents;
  log: Logger;
  now?: () => Date;
}

/** A live rollout with the plan it executes. */
export interface LiveRollout {
  row: RolloutRow;
  plan: DeploymentPlan;
}

type Intent = Selectable<RolloutIntentsTable>;

const endedStates: readonly RolloutState[] = [
  'completed',
  'halted',
  'frozen',
  'rolled_back',
  'aborted',
  'failed',
];

/** What one fenced change did: events to announce and audit events to hand on. */
interface Change {
  events: PendingRolloutEvent[];
  audits: AuditEvent[];
}

/**
 * The rollout state machine: starts, stage advances, gates, the failure
 * policy and operators' intents. Every change runs in one transaction that
 * first checks this scheduler still leads (`SchedulerLeadership.fence`), so a
 * stale leader changes nothing.
 */
export class RolloutEngine {
  readonly #o: RolloutEngineOptions;
  readonly #now: () => Date;

  constructor(options: RolloutEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Runs `change` fenced, then announces what it did. */
  async fenced<T>(change: (tx: Tx, term: string, out: Change) => Promise<T>): Promise<T> {
    const out: Change = { events: [], audits: [] };
    const result = await this.#o.database.transaction(async (tx) => {
      const term = await this.#o.leadership.fence(tx);
      return change(tx, term, out);
    });
    const at = this.#now();
    this.#o.events.rollout(out.events, at);
    for (const audit of out.audits)
      this.#o.bus
        .publish(internalTopics.audit, JSON.stringify(audit), { qos: 1 })
        .catch((error: unknown) =>
          this.#o.log.warn({ err: error, auditId: audit.id }, 'audit event not announced'),
        );
    return result;
  }

  /** Handles recorded intents in order; returns how many. */
  async processIntents(limit = 100): Promise<number> {
    const intents = await this.#o.database.db
      .selectFrom('rollout_intents')
      .selectAll()
      .where('processed_at', 'is', null)
      .orderBy('id')
      .limit(limit)
      .execute();
    for (const intent of intents) await this.#handleIntent(intent);
    return intents.length;
  }

  async #handleIntent(intent: Intent): Promise<void> {
    await this.fenced(async (tx, term, out) => {
      const outcome =
        intent.action === 'start'
          ? await this.#start(tx, term, intent, out)
          : await this.#control(tx, term, intent, out);
      await tx
        .updateTable('rollout_intents')
        .set({
          processed_at: this.#now(),
          outcome: outcome === undefined ? 'applied' : 'rejected',
          detail: outcome ?? null,
        })
        .where('id', '=', intent.id)
        .execute();
    });
  }

  /** Plans and records the rollout; returns why it was refused, if it was. */
  async #start(tx: Tx, term: string, intent: Intent, out: Change): Promise<string | undefined> {
    const deployment = await tx
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', intent.deployment_id)
      .forUpdate()
      .executeTakeFirst();
    if (deployment === undefined) return 'the deployment no longer exists';
    const exists = await tx
      .selectFrom('rollouts')
      .select('id')
      .where('deployment_id', '=', deployment.id)
      .executeTakeFirst();
    if (exists !== undefined) return 'the deployment already has a rollout';
    const plan = deploymentPlanOf(deployment);
    const stages = rolloutStages(plan.strategy);
    const now = this.#now();
    const overlaps = await rolloutOverlaps(tx, deployment, plan, { pendingStarts: false });
    const refusal =
      overlaps.length > 0
        ? `overlaps live rollouts: ${overlaps.map((o) => `${o.rollout_id} (${o.devices} devices)`).join(', ')}`
        : undefined;
    const row = await tx
      .insertInto('rollouts')
      .values({
        id: intent.rollout_id,
        org_id: deployment.org_id,
        fleet_id: deployment.fleet_id,
        deployment_id: deployment.id,
        release_id: plan.release_id,
        state: refusal === undefined ? 'running' : 'failed',
        reason: refusal ?? null,
        stage: -1,
        stage_count: stages.length,
        term,
        started_at: now,
        updated_at: now,
        ended_at: refusal === undefined ? null : now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await tx
      .updateTable('deployments')
      .set({ started_at: now })
      .where('id', '=', deployment.id)
      .execute();
    if (refusal !== undefined) {
      out.audits.push(
        await auditRolloutChange(tx, row, this.#o.leadership.holder, 'rollout.failed', {
          reason: refusal,
        }),
      );
      out.events.push({ type: 'rollout.failed', rollout: row, plan, reason: refusal });
      return refusal;
    }
    await this.#advance(tx, term, { row, plan }, 0, out, (counts) => {
      const started = { ...row, ...counts };
      out.events.push({ type: 'rollout.started', rollout: started, plan });
      return auditRolloutChange(tx, started, this.#o.leadership.holder, 'rollout.started', {
        planned: counts.planned + counts.targeted,
        skipped: counts.skipped,
        held_back: counts.held_back,
      });
    });
    return undefined;
  }

  async #control(tx: Tx, term: string, intent: Intent, out: Change): Promise<string | undefined> {
    const live = await this.#lockRollout(tx, intent.rollout_id);
    if (live === undefined) return 'the rollout has not started';
    const { row } = live;
    const ended = endedStates.includes(row.state);
    switch (intent.action) {
      case 'pause':
        if (row.state !== 'running') return `a ${row.state} rollout cannot be paused`;
        await this.#setState(tx, term, live, 'paused', 'paused by an operator', out);
        return undefined;
      case 'resume':
        if (row.state !== 'paused') return `a ${row.state} rollout cannot be resumed`;
        await this.#setState(tx, term, live, 'running', null, out);
        return undefined;
      case 'advance':
        if (row.state !== 'running' || !row.awaiting_advance)
          return `stage ${row.stage} is not waiting for an operator`;
        await this.#advance(tx, term, live, row.stage + 1, out);
        return undefined;
      case 'abort':
        if (ended) return `the rollout already ended (${row.state})`;
        await this.#setState(tx, term, live, 'aborted', 'aborted by an operator', out);
        return undefined;
      case 'rollback':
        if (row.state === 'rolled_back' || row.state === 'failed')
          return `a ${row.state} rollout cannot be rolled back`;
        await this.#revert(tx, term, live, 'rolled back by an operator', out);
        return undefined;
      case 'start':
        return 'unexpected start';
    }
  }

  async #lockRollout(tx: Tx, rolloutId: string): Promise<LiveRollout | undefined> {
    const row = await tx
      .selectFrom('rollouts')
      .selectAll()
      .where('id', '=', rolloutId)
      .forUpdate()
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const deployment = await tx
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', row.deployment_id)
      .executeTakeFirstOrThrow();
    return { row, plan: deploymentPlanOf(deployment) };
  }

  async #setState(
    tx: Tx,
    term: string,
    live: LiveRollout,
    state: RolloutState,
    reason: string | null,
    out: Change,
  ): Promise<RolloutRow> {
    const now = this.#now();
    const row = await tx
      .updateTable('rollouts')
      .set({
        state,
        reason,
        term,
        updated_at: now,
        ...(endedStates.includes(state) ? { ended_at: now, awaiting_advance: false } : {}),
      })
      .where('id', '=', live.row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const type =
      state === 'paused'
        ? 'rollout.paused'
        : state === 'completed'
          ? 'rollout.completed'
          : state === 'rolled_back'
            ? 'rollout.rolled_back'
            : state === 'running'
              ? undefined
              : 'rollout.failed';
    out.audits.push(
      await auditRolloutChange(tx, row, this.#o.leadership.holder, `rollout.${state}`, { reason }),
    );
    if (type !== undefined && type !== 'rollout.rolled_back')
      out.events.push({ type, rollout: row, plan: live.plan, reason });
    return row;
  }

  /**
   * Moves to `stage`, reaching its devices. Plans first, so devices added
   * since join in; `started` marks the rollout's first plan, which writes
   * every row itself: nothing is left to target or count afterwards, and it
   * is audited (as `rollout.started`) before the stage.
   */
  async #advance(
    tx: Tx,
    term: string,
    live: LiveRollout,
    stage: number,
    out: Change,
    started?: (counts: RolloutCountsRow) => Promise<AuditEvent>,
  ): Promise<void> {
    const { row, plan } = live;
    const seq = row.assignment_seq + 1;
    const now = this.#now();
    const inserted = await insertPlan(tx, row, plan, stage, seq, now);
    let startCounts: RolloutCountsRow | undefined;
    if (started !== undefined) {
      startCounts = await storeCounts(tx, row.id, inserted);
      out.audits.push(await started(startCounts));
    }
    const reached =
      (inserted.get('targeted') ?? 0) +
      (started === undefined ? await targetDevices(tx, row, stage, seq, now) : 0);
    await tx
      .updateTable('rollouts')
      .set({
        stage,
        stage_started_at: now,
        awaiting_advance: false,
        assignment_seq: seq,
        term,
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
    const counts = startCounts ?? (await recount(tx, row.id));
    const advanced = await tx
      .selectFrom('rollouts')
      .selectAll()
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    out.audits.push(
      await auditRolloutChange(tx, advanced, this.#o.leadership.holder, 'rollout.stage_advanced', {
        stage,
        assignment_seq: seq,
        newly_targeted: reached,
        targeted: counts.targeted,
      }),
    );
    out.events.push({ type: 'rollout.stage_advanced', rollout: advanced, plan });
  }

  async #revert(
    tx: Tx,
    term: string,
    live: LiveRollout,
    reason: string,
    out: Change,
  ): Promise<void> {
    const { row, plan } = live;
    const seq = row.assignment_seq + 1;
    const toReleaseId = plan.rollback.target_release_id ?? null;
    const reverted = await revertDevices(tx, row, toReleaseId, seq);
    const now = this.#now();
    const ended = await tx
      .updateTable('rollouts')
      .set({
        state: 'rolled_back',
        reason,
        term,
        assignment_seq: seq,
        awaiting_advance: false,
        updated_at: now,
        ended_at: now,
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    out.audits.push(
      await auditRolloutChange(tx, ended, this.#o.leadership.holder, 'rollout.rolled_back', {
        reason,
        assignment_seq: seq,
        reverted,
        to_release_id: toReleaseId,
      }),
    );
    out.events.push({ type: 'rollout.rolled_back', rollout: ended, plan, reason, toReleaseId });
  }

  /** The rollouts that have not ended, with their plans. */
  async liveRollouts(): Promise<LiveRollout[]> {
    const rows = await this.#o.database.db
      .selectFrom('rollouts')
      .innerJoin('deployments', 'deployments.id', 'rollouts.deployment_id')
      .selectAll('rollouts')
      .select([
        'deployments.selector',
        'deployments.strategy',
        'deployments.health',
        'deployments.rollback',
        'deployments.host_command',
        'deployments.release_id as plan_release_id',
      ])
      .where('rollouts.ended_at', 'is', null)
      .orderBy('rollouts.started_at')
      .execute();
    return rows.map(
      ({ selector, strategy, health, rollback, host_command, plan_release_id, ...row }) => ({
        row,
        plan: deploymentPlanOf({
          selector,
          strategy,
          health,
          rollback,
          host_command,
          release_id: plan_release_id,
        } as Parameters<typeof deploymentPlanOf>[0]),
      }),
    );
  }

  /**
   * One look at a live rollout: the failure policy first (at any time), then,
   * when running, the next stage or the gate of the current one.
   */
  async step(rolloutId: string): Promise<void> {
    await this.fenced(async (tx, term, out) => {
      const live = await this.#lockRollout(tx, rolloutId);
      if (live === undefined || live.row.ended_at !== null) return;
      const counts = await recount(tx, rolloutId);
      const row = { ...live.row, ...counts };
      const current = { row, plan: live.plan };
      const trigger = failureTrigger(live.plan.rollback, counts);
      if (trigger !== undefined) {
        await this.#actOnFailure(tx, term, current, trigger, out);
        return;
      }
      if (row.state !== 'running' || row.awaiting_advance) return;
      const stages = rolloutStages(live.plan.strategy);
      if (row.stage < 0) {
        await this.#advance(tx, term, current, 0, out);
        return;
      }
      const stage = stages[row.stage]!;
      const ageSeconds = (this.#now().getTime() - (row.stage_started_at?.getTime() ?? 0)) / 1000;
      if (ageSeconds < stage.min_wait_seconds) return;
      const inputs = await this.#gateInputs(tx, current, ageSeconds);
      const verdict = evaluateGate(live.plan.health, inputs);
      await this.#recordGate(tx, term, row, inputs, verdict);
      if (verdict.verdict === 'wait') return;
      if (verdict.verdict === 'fail') {
        await this.#setState(
          tx,
          term,
          current,
          'paused',
          `the health gate of stage ${row.stage} failed: ${verdict.reasons.join('; ')}`,
          out,
        );
        return;
      }
      await this.#afterPass(tx, term, current, stages, out);
    });
  }

  async #afterPass(
    tx: Tx,
    term: string,
    live: LiveRollout,
    stages: readonly RolloutStage[],
    out: Change,
  ): Promise<void> {
    const { row } = live;
    const next = stages[row.stage + 1];
    if (next === undefined) {
      await this.#setState(tx, term, live, 'completed', null, out);
      return;
    }
    if (next.advance === 'operator') {
      await tx
        .updateTable('rollouts')
        .set({ awaiting_advance: true, term, updated_at: this.#now() })
        .where('id', '=', row.id)
        .execute();
      return;
    }
    await this.#advance(tx, term, live, row.stage + 1, out);
  }

  async #actOnFailure(
    tx: Tx,
    term: string,
    live: LiveRollout,
    trigger: string,
    out: Change,
  ): Promise<void> {
    const action = live.plan.rollback.action;
    if (action === 'revert') {
      await this.#revert(tx, term, live, trigger, out);
      return;
    }
    if (action === 'freeze') {
      const seq = live.row.assignment_seq + 1;
      const frozen = await freezeDevices(tx, live.row.id, seq);
      await tx
        .updateTable('rollouts')
        .set({ assignment_seq: seq })
        .where('id', '=', live.row.id)
        .execute();
      out.audits.push(
        await auditRolloutChange(
          tx,
          live.row,
          this.#o.leadership.holder,
          'rollout.devices_frozen',
          {
            assignment_seq: seq,
            frozen,
          },
        ),
      );
    }
    await this.#setState(tx, term, live, action === 'freeze' ? 'frozen' : 'halted', trigger, out);
  }

  async #gateInputs(tx: Tx, live: LiveRollout, ageSeconds: number): Promise<GateInputs> {
    const devices = await tx
      .selectFrom('rollout_devices')
      .select(['device_id', 'status'])
      .where('rollout_id', '=', live.row.id)
      .where('status', 'in', reachedStatuses)
      .execute();
    const scores = await this.#o.kv.zscoreMany(
      deviceLiveKeys.presence,
      devices.map((device) => device.device_id),
    );
    const inputs: GateInputs = {
      targeted: devices.length,
      succeeded: 0,
      failed: 0,
      updating_online: 0,
      updating_offline: 0,
      online: 0,
      stage_age_seconds: Math.floor(ageSeconds),
      telemetry: await gateTelemetry(tx, live.row.id, live.plan.health, this.#now()),
    };
    devices.forEach((device, index) => {
      const online = scores[index] !== null && scores[index] !== undefined;
      if (online) inputs.online += 1;
      if (device.status === 'succeeded') inputs.succeeded += 1;
      else if (device.status === 'failed') inputs.failed += 1;
      else if (online) inputs.updating_online += 1;
      else inputs.updating_offline += 1;
    });
    return inputs;
  }

  /** Stores a verdict; a wait only when it says something new, so waiting does not flood the table. */
  async #recordGate(
    tx: Tx,
    term: string,
    row: RolloutRow,
    inputs: GateInputs,
    verdict: GateVerdict,
  ): Promise<void> {
    if (verdict.verdict === 'wait') {
      const last = await tx
        .selectFrom('rollout_gate_evaluations')
        .select(['verdict', 'reasons', 'stage'])
        .where('rollout_id', '=', row.id)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (
        last?.verdict === 'wait' &&
        last.stage === row.stage &&
        JSON.stringify(last.reasons) === JSON.stringify(verdict.reasons)
      )
        return;
    }
    await tx
      .insertInto('rollout_gate_evaluations')
      .values({
        rollout_id: row.id,
        stage: row.stage,
        evaluated_at: this.#now(),
        verdict: verdict.verdict,
        inputs: JSON.stringify(inputs),
        reasons: JSON.stringify(verdict.reasons),
        term,
      })
      .execute();
  }
}
