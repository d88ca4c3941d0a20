import { describe, expect, it } from 'vitest';
import type { DesiredStateMessage } from '@flock/protocol';
import type { ContainerInfo } from '../runtime/container-runtime.js';
import { diff, type Snapshot } from './diff.js';
import type { StepFailure } from './step.js';
import { targetFromDesired, type TargetState } from './target-state.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const nginx1 = `registry.example/nginx@${digest('a')}`;
const nginx2 = `registry.example/nginx@${digest('b')}`;
const redis = `registry.example/redis@${digest('c')}`;

function desired(
  services: Record<string, Record<string, unknown>>,
  environment: Record<string, Record<string, string>> = {},
  releaseId = 'rel-1',
): DesiredStateMessage {
  return {
    v: 1,
    revision: 1,
    release: { id: releaseId, version: 1, compose: { services }, content_hash: 'h' },
    environment,
    config: {
      heartbeat_interval_seconds: 60,
      telemetry_interval_seconds: 60,
      updates_paused: false,
    },
  };
}

/** The containers a converged device would have for `target`, all running. */
function runningFor(target: TargetState, prefix = 'c'): ContainerInfo[] {
  return target.services.map((s, i) => ({
    id: `${prefix}${i}`,
    name: s.spec.name,
    image: s.spec.image,
    state: 'running',
    labels: s.spec.labels,
  }));
}

const context = { nowMs: 1_000_000, failures: new Map<string, StepFailure>() };
const snapshot = (containers: ContainerInfo[], images: string[]): Snapshot => ({
  containers,
  images: new Set(images),
});

describe('diff', () => {
  const web = { image: nginx1, ports: ['80:80'], environment: { MODE: 'prod' } };
  const cache = { image: redis };

  it('installs from nothing: pull, then create, then start', () => {
    const target = targetFromDesired(desired({ web, cache }));
    expect(diff(snapshot([], []), target, context)).toEqual([
      { action: 'pull', service: 'cache', image: redis },
      { action: 'pull', service: 'web', image: nginx1 },
    ]);
    const creates = diff(snapshot([], [nginx1, redis]), target, context);
    expect(creates.map((s) => s.action)).toEqual(['create', 'create']);
    expect(creates.map((s) => (s.action === 'create' ? s.spec.name : ''))).toEqual(
      target.services.map((s) => s.spec.name),
    );
    const created = runningFor(target).map((c) => ({ ...c, state: 'created' as const }));
    expect(diff(snapshot(created, [nginx1, redis]), target, context)).toEqual([
      { action: 'start', service: 'cache', containerId: 'c0' },
      { action: 'start', service: 'web', containerId: 'c1' },
    ]);
  });

  it('has nothing to do once converged', () => {
    const target = targetFromDesired(desired({ web, cache }));
    expect(diff(snapshot(runningFor(target), [nginx1, redis]), target, context)).toEqual([]);
  });

  it('updates an image: pull while the old runs, create, stop old, start new, remove old', () => {
    const before = targetFromDesired(desired({ web, cache }));
    const after = targetFromDesired(
      desired({ web: { ...web, image: nginx2 }, cache }, {}, 'rel-2'),
    );
    const old = runningFor(before);
    const steps1 = diff(snapshot(old, [nginx1, redis]), after, context);
    expect(steps1).toEqual([{ action: 'pull', service: 'web', image: nginx2 }]);

    const steps2 = diff(snapshot(old, [nginx1, nginx2, redis]), after, context);
    expect(steps2).toHaveLength(1);
    expect(steps2[0]).toMatchObject({ action: 'create', service: 'web' });

    const newWeb = runningFor(after, 'n').find((c) => c.image === nginx2)!;
    const withNew = [...old, { ...newWeb, state: 'created' as const }];
    expect(diff(snapshot(withNew, [nginx1, nginx2, redis]), after, context)).toEqual([
      { action: 'stop', service: 'web', containerId: 'c1' },
    ]);
    const oldStopped = withNew.map((c) => (c.id === 'c1' ? { ...c, state: 'exited' as const } : c));
    expect(diff(snapshot(oldStopped, [nginx1, nginx2, redis]), after, context)).toEqual([
      { action: 'start', service: 'web', containerId: newWeb.id },
    ]);
    const newRunning = oldStopped.map((c) =>
      c.id === newWeb.id ? { ...c, state: 'running' as const } : c,
    );
    expect(diff(snapshot(newRunning, [nginx1, nginx2, redis]), after, context)).toEqual([
      { action: 'remove', service: 'web', containerId: 'c1' },
    ]);
  });

  it('leaves a service the new release does not change running', () => {
    const before = targetFromDesired(desired({ web, cache }));
    const after = targetFromDesired(
      desired({ web: { ...web, image: nginx2 }, cache }, {}, 'rel-2'),
    );
    const cacheBefore = before.services.find((s) => s.name === 'cache')!;
    const cacheAfter = after.services.find((s) => s.name === 'cache')!;
    expect(cacheAfter.hash).toBe(cacheBefore.hash);
    const steps = diff(snapshot(runningFor(before), [nginx1, nginx2, redis]), after, context);
    expect(steps.every((s) => s.action !== 'create' || s.service === 'web')).toBe(true);
  });

  it('recreates a service whose environment changed, device variables winning', () => {
    const before = targetFromDesired(desired({ web }));
    const after = targetFromDesired(desired({ web }, { web: { MODE: 'debug', EXTRA: '1' } }));
    expect(after.services[0]!.spec.environment).toEqual({ EXTRA: '1', MODE: 'debug' });
    expect(after.services[0]!.hash).not.toBe(before.services[0]!.hash);
    expect(after.services[0]!.spec.name).not.toBe(before.services[0]!.spec.name);
    const steps = diff(snapshot(runningFor(before), [nginx1]), after, context);
    expect(steps).toEqual([{ action: 'create', service: 'web', spec: after.services[0]!.spec }]);
  });

  it('stops and removes a service the release dropped', () => {
    const before = targetFromDesired(desired({ web, cache }));
    const after = targetFromDesired(desired({ web }, {}, 'rel-2'));
    const running = runningFor(before);
    expect(diff(snapshot(running, [nginx1, redis]), after, context)).toEqual([
      { action: 'stop', service: 'cache', containerId: 'c0' },
    ]);
    const stopped = running.map((c) => (c.id === 'c0' ? { ...c, state: 'stopped' as const } : c));
    expect(diff(snapshot(stopped, [nginx1, redis]), after, context)).toEqual([
      { action: 'remove', service: 'cache', containerId: 'c0' },
    ]);
  });

  it('removes everything when the desired release is null', () => {
    const before = targetFromDesired(desired({ web }));
    const none = targetFromDesired({ ...desired({}), release: null });
    expect(diff(snapshot(runningFor(before), [nginx1]), none, context)).toEqual([
      { action: 'stop', service: 'web', containerId: 'c0' },
    ]);
  });

  it('skips a failed pull while it backs off, then retries it', () => {
    const target = targetFromDesired(desired({ web, cache }));
    const failures = new Map<string, StepFailure>([
      [`pull:${nginx1}`, { attempts: 1, notBeforeMs: 1_005_000, error: 'registry down' }],
    ]);
    // The other image still downloads meanwhile.
    expect(diff(snapshot([], []), target, { nowMs: 1_000_000, failures })).toEqual([
      { action: 'pull', service: 'cache', image: redis },
    ]);
    // With nothing else to do, the round is a wait until the retry is due.
    expect(diff(snapshot([], [redis]), target, { nowMs: 1_000_000, failures })).toEqual([
      { action: 'wait', untilMs: 1_005_000, reason: `pull:${nginx1}: registry down` },
    ]);
    expect(diff(snapshot([], [redis]), target, { nowMs: 1_005_000, failures })).toEqual([
      { action: 'pull', service: 'web', image: nginx1 },
    ]);
  });

  it('pulls an image two services share once', () => {
    const target = targetFromDesired(desired({ a: { image: nginx1 }, b: { image: nginx1 } }));
    expect(diff(snapshot([], []), target, context)).toEqual([
      { action: 'pull', service: 'a', image: nginx1 },
    ]);
  });

  it('restarts exited services by restart policy, leaving finished one-shots alone', () => {
    const target = targetFromDesired(
      desired({
        always: { image: nginx1 },
        once: { image: redis, restart: 'no' },
        retry: { image: nginx2, restart: 'on-failure:3' },
      }),
    );
    const containers = runningFor(target).map((c) => ({
      ...c,
      state: 'exited' as const,
      exitCode: 0,
    }));
    expect(diff(snapshot(containers, [nginx1, nginx2, redis]), target, context)).toEqual([
      { action: 'start', service: 'always', containerId: 'c0' },
    ]);
    const failed = containers.map((c) => ({ ...c, exitCode: 1 }));
    expect(
      diff(snapshot(failed, [nginx1, nginx2, redis]), target, context).map(
        (s) => s.action === 'start' && s.service,
      ),
    ).toEqual(['always', 'retry']);
  });

  it('treats a second container of the same spec as surplus', () => {
    const target = targetFromDesired(desired({ web }));
    const [first] = runningFor(target);
    const twin = { ...first!, id: 'twin' };
    expect(diff(snapshot([first!, twin], [nginx1]), target, context)).toEqual([
      { action: 'stop', service: 'web', containerId: 'twin' },
    ]);
  });

  it('is pure: the same input gives the same steps and nothing is mutated', () => {
    const target = targetFromDesired(desired({ web, cache }));
    const current = snapshot([], [nginx1]);
    const frozen = JSON.stringify({ target, containers: current.containers });
    expect(diff(current, target, context)).toEqual(diff(current, target, context));
    expect(JSON.stringify({ target, containers: current.containers })).toBe(frozen);
  });
});
