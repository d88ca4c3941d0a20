// Convergence of an `immediate` rollout: from the start request to every
// simulated device reporting the new release, and to the scheduler
// completing the rollout, on the real targets (api, ingester with the
// desired-state publisher, scheduler: three processes) with PostgreSQL, Redis
// and Mosquitto, and `flockd simulate` (one MQTT session per device, 100 ms
// updates, no failures, nobody offline). Where the time went: see
// bench/support/converge-timeline.js. Baseline: the broker alone delivering a
// retained message to as many sessions. `npm run build` first.
// FLOCK_BENCH_CONVERGE_DEVICES (default 10,000; see the result's `limit` for
// why not 100,000 here), FLOCK_BENCH_RUNS (default 3).
import { env } from './support/flock-processes.js';
import { runConvergeBench } from './support/converge-bench.js';

const devices = Number(env('FLOCK_BENCH_CONVERGE_DEVICES', '10000'));
const runs = Number(env('FLOCK_BENCH_RUNS', '3'));

export default async function run({ log }) {
  const result = await runConvergeBench({
    devices,
    runs,
    updateMs: '100',
    strategy: () => ({ type: 'immediate' }),
    log,
  });
  return {
    metric: 'immediate_converged_ms',
    value: result.median.converged_ms,
    unit: 'ms',
    better: 'lower',
    target: null,
    baseline: {
      what: `the broker alone delivering one retained QoS 1 message to each of ${devices} sessions (ms)`,
      value: result.baseline.delivered_ms,
    },
    strategy: 'immediate',
    ...result,
  };
}
