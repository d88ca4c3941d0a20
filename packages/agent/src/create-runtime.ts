import type { AgentConfig } from './config/agent-config.js';
import type { ContainerRuntime } from './runtime/container-runtime.js';

/** The one place the runtime adapter is chosen; each is loaded only when used. */
export async function createRuntime(config: AgentConfig): Promise<ContainerRuntime> {
  switch (config.runtime) {
    case 'podman': {
      const { PodmanRuntime } = await import('./runtime/podman-runtime.js');
      return new PodmanRuntime({ socketPath: config.podmanSocket });
    }
    case 'simulated': {
      const { SimulatedRuntime } = await import('./runtime/simulated-runtime.js');
      return new SimulatedRuntime();
    }
  }
}
