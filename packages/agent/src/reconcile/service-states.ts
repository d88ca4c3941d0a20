import type { ServiceState } from '@flock/protocol';
import { type ContainerInfo, serviceLabel, specHashLabel } from '../runtime/container-runtime.js';
import type { Snapshot } from './diff.js';
import type { StepFailure } from './step.js';
import type { TargetState } from './target-state.js';

const containerStatus: Record<ContainerInfo['state'], ServiceState['status']> = {
  created: 'created',
  running: 'running',
  paused: 'stopped',
  exited: 'exited',
  stopped: 'stopped',
  unknown: 'failed',
};

/**
 * Per-service status for the heartbeat: each target service by its
 * container (or by where its update is), then services being removed.
 */
export function serviceStates(
  snapshot: Snapshot,
  target: TargetState,
  failures: ReadonlyMap<string, StepFailure>,
): ServiceState[] {
  const byHash = new Map(snapshot.containers.map((c) => [c.labels[specHashLabel], c]));
  const states: ServiceState[] = [];
  for (const service of target.services) {
    const container = byHash.get(service.hash);
    const failure =
      failures.get(`pull:${service.spec.image}`) ?? failures.get(`create:${service.spec.name}`);
    if (container !== undefined) {
      const startFailure = failures.get(`start:${container.id}`);
      states.push({
        name: service.name,
        image: service.spec.image,
        status: startFailure === undefined ? containerStatus[container.state] : 'failed',
        container_id: container.id,
        ...(container.startedAt === undefined ? {} : { started_at: container.startedAt }),
        ...(container.exitCode === undefined ? {} : { exit_code: container.exitCode }),
        ...(startFailure === undefined ? {} : { error: startFailure.error.slice(0, 2000) }),
      });
    } else {
      states.push({
        name: service.name,
        image: service.spec.image,
        status:
          failure !== undefined
            ? 'failed'
            : snapshot.images.has(service.spec.image)
              ? 'installing'
              : 'downloading',
        ...(failure === undefined ? {} : { error: failure.error.slice(0, 2000) }),
      });
    }
  }
  for (const invalid of target.invalid) {
    states.push({
      name: invalid.name === '*' ? 'release' : invalid.name,
      image: '',
      status: 'failed',
      error: invalid.problem.slice(0, 2000),
    });
  }
  const named = new Set(states.map((s) => s.name));
  for (const container of snapshot.containers) {
    const name = container.labels[serviceLabel] ?? container.name;
    if (named.has(name)) continue;
    named.add(name);
    states.push({
      name,
      image: container.image,
      status: containerStatus[container.state],
      container_id: container.id,
      ...(container.exitCode === undefined ? {} : { exit_code: container.exitCode }),
    });
  }
  return states.slice(0, 100);
}
