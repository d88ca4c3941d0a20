import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export type { Registry };

export function createMetrics(version: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flock_' });
  const info = new Gauge({
    name: 'flock_build_info',
    help: 'Version of the running flock-server',
    labelNames: ['version', 'node'],
    registers: [registry],
  });
  info.set({ version, node: process.version }, 1);
  return registry;
}
