// Convergence of a 4-stage progressive rollout (1 / 10 / 50 / 100 %, no
// waits, the default health gate, which passes once every reached online
// device reported): from the start request to every simulated device
// reporting the new release and to completion, with each stage's time and
// where it went. Same setup as rollout-converge-immediate.bench.js.
// FLOCK_BENCH_CONVERGE_DEVICES (default 10,000), FLOCK_BENCH_RUNS (default 3).
import { env } from './support/flock-processes.js';
import { runConvergeBench } from './support/converge-bench.js';

const devices = Number(env('FLOCK_BENCH_CONVERGE_DEVICES', '10000'));
const runs = Number(env('FLOCK_BENCH_RUNS', '3'));
const percents = [1, 10, 50, 100];

export default async function run({ log }) {
  const result = await runConvergeBench({
    devices,
    runs,
    updateMs: '100',
    strategy: () => ({
      type: 'progressive',
      stages: percents.map((percent) => ({ percent, min_wait_seconds: 0 })),
    }),
    log,
  });
  return {
    metric: 'progressive_converged_ms',
    value: result.median.converged_ms,
    unit: 'ms',
    better: 'lower',
    target: null,
    baseline: {
      what: `the broker alone delivering one retained QoS 1 message to each of ${devices} sessions (ms)`,
      value: result.baseline.delivered_ms,
    },
    strategy: `progressive ${percents.join(' / ')} %, min_wait_seconds 0`,
    ...result,
  };
}
