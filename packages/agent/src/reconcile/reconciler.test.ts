import type { DesiredStateMessage } from '@flock/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeRuntime } from '../../test/support/fake-runtime.js';
import { waitFor } from '../../test/support/wait-for.js';
import type { Applied } from './applied-store.js';
import { Reconciler } from './reconciler.js';
import type { UpdateEvent } from './update-tracker.js';

const image = (c: string) => `registry.example/app@sha256:${c.repeat(64)}`;
const log = pino({ level: 'silent' });

function desired(
  revision: number,
  releaseId: string,
  services: Record<string, string>,
  paused = false,
): DesiredStateMessage {
  return {
    v: 1,
    revision,
    deployment_id: `dep-${revision}`,
    release: {
      id: releaseId,
      version: revision,
      compose: {
        services: Object.fromEntries(
          Object.entries(services).map(([name, img]) => [name, { image: img }]),
        ),
      },
      content_hash: 'h',
    },
    environment: {},
    config: {
      heartbeat_interval_seconds: 60,
      telemetry_interval_seconds: 60,
      updates_paused: paused,
    },
  };
}

describe('Reconciler', () => {
  const controllers: AbortController[] = [];
  afterEach(() => controllers.forEach((c) => c.abort()));

  function start(runtime: FakeRuntime, applied?: Applied) {
    const events: UpdateEvent[] = [];
    const appliedLog: Applied[] = [];
    const reconciler = new Reconciler({
      runtime,
      log,
      intervalMs: 50,
      stopTimeoutSeconds: 1,
      applied,
      onEvent: (e) => events.push(e),
      onApplied: (a) => appliedLog.push(a),
      retry: { initialMs: 20, maxMs: 40 },
    });
    const controller = new AbortController();
    controllers.push(controller);
    const running = reconciler.run(controller.signal);
    return { reconciler, events, appliedLog, controller, running };
  }

  it('installs a release and reports progress and the result with the deployment', async () => {
    const runtime = new FakeRuntime();
    const { reconciler, events, appliedLog } = start(runtime);
    reconciler.setDesired(desired(1, 'rel-1', { web: image('a'), db: image('b') }));
    await waitFor(() => appliedLog.length === 1, { what: 'convergence' });
    expect(appliedLog).toEqual([{ release_id: 'rel-1', revision: 1 }]);
    expect(
      events.map((e) =>
        e.type === 'update.progress' ? `${e.status} ${e.progress ?? ''}` : `result ${e.success}`,
      ),
    ).toEqual([
      'downloading 0',
      // Two images, each at 50 % then 100 %: the average moves in quarters.
      'downloading 25',
      'downloading 50',
      'downloading 75',
      'downloading 100',
      'installing ',
      'result true',
    ]);
    expect(events.every((e) => e.deployment_id === 'dep-1' && e.release_id === 'rel-1')).toBe(true);
    const status = reconciler.status();
    expect(status.runningReleaseId).toBe('rel-1');
    expect(status.update).toEqual({ release_id: 'rel-1', status: 'succeeded' });
    expect(status.services.map((s) => `${s.name}:${s.status}`).sort()).toEqual([
      'db:running',
      'web:running',
    ]);
  });

  it('updates: pull, create, stop old, start new, remove old', async () => {
    const runtime = new FakeRuntime();
    const { reconciler, appliedLog } = start(runtime);
    reconciler.setDesired(desired(1, 'rel-1', { web: image('a') }));
    await waitFor(() => appliedLog.length === 1);
    runtime.calls.length = 0;
    reconciler.setDesired(desired(2, 'rel-2', { web: image('b') }));
    await waitFor(() => appliedLog.length === 2);
    expect(runtime.calls).toEqual([
      `pull ${image('b')}`,
      'create web ctr2',
      'stop ctr1',
      'start ctr2',
      'remove ctr1',
    ]);
  });

  it('retries a failed pull with backoff, reports the failure, then the recovery', async () => {
    const runtime = new FakeRuntime();
    runtime.failPulls.set(image('c'), 3);
    const { reconciler, events, appliedLog } = start(runtime);
    reconciler.setDesired(desired(1, 'rel-1', { web: image('c') }));
    await waitFor(() => appliedLog.length === 1, { what: 'convergence after retries' });
    expect(runtime.calls.filter((c) => c.startsWith('pull'))).toHaveLength(4);
    const results = events.filter((e) => e.type === 'update.result');
    expect(results.map((r) => r.success)).toEqual([false, true]);
    expect(results[0]).toMatchObject({ error: expect.stringContaining('registry unreachable') });
  });

  it('changes nothing while updates are paused', async () => {
    const runtime = new FakeRuntime();
    const { reconciler, appliedLog } = start(runtime);
    reconciler.setDesired(desired(1, 'rel-1', { web: image('a') }, true));
    // Two observations pass with nothing applied.
    let observed = 0;
    const original = runtime.listContainers.bind(runtime);
    runtime.listContainers = async (signal) => {
      observed += 1;
      return original(signal);
    };
    await waitFor(() => observed >= 2);
    expect(runtime.calls).toEqual([]);
    reconciler.setDesired(desired(2, 'rel-1', { web: image('a') }, false));
    await waitFor(() => appliedLog.length === 1);
  });

  it('leaves containers alone before it knows any desired state', async () => {
    const runtime = new FakeRuntime();
    runtime.images.add(image('a'));
    await runtime.createContainer({
      name: 'flock_old',
      image: image('a'),
      environment: {},
      ports: [],
      volumes: [],
      restart: 'always',
      labels: { 'io.flock.managed': 'true', 'io.flock.service': 'old' },
    });
    const { reconciler } = start(runtime);
    await waitFor(() => reconciler.status().services.length === 1);
    expect(runtime.calls).toEqual(['create old ctr1']);
  });

  it('runs exclusive work between rounds, never during one', async () => {
    const runtime = new FakeRuntime();
    const { reconciler, appliedLog } = start(runtime);
    reconciler.setDesired(desired(1, 'rel-1', { web: image('a') }));
    const during = await reconciler.exclusive(async () => runtime.calls.length);
    await waitFor(() => appliedLog.length === 1);
    // Whatever the loop had done when the lock was granted, it was a whole round.
    expect([0, 1, 2, 3]).toContain(during);
  });
});
