import type {
  ModuleContext,
  ModuleDefinition,
  ReadinessCheck,
  ReadinessReport,
  RunningModule,
} from './module.js';
import { startOrder } from './module-graph.js';

const readinessTimeoutMs = 2_000;

type Definitions = Record<string, ModuleDefinition<unknown, never>>;

export interface StartedModules {
  readonly names: string[];
  exports(name: string): unknown;
  readiness(): Promise<ReadinessReport>;
  /** Stops every started module in reverse order; never throws. */
  stop(): Promise<void>;
}

async function check(name: string, module: RunningModule<unknown>): Promise<ReadinessCheck> {
  if (module.ready === undefined) return { module: name, ok: true };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${readinessTimeoutMs} ms`)),
      readinessTimeoutMs,
    );
  });
  try {
    await Promise.race([module.ready(), timeout]);
    return { module: name, ok: true };
  } catch (error) {
    return {
      module: name,
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Builds each module once, in dependency order, giving it only the exports of
 * the modules it declares; starts them in that order, then opens them; on
 * stop quiesces them all, then stops them in reverse.
 */
export class ModuleRegistry {
  constructor(
    private readonly definitions: Definitions,
    private readonly dependencies: Readonly<Record<string, readonly string[]>>,
    private readonly selectable: readonly string[],
  ) {}

  order(requested: readonly string[]): string[] {
    return startOrder(this.dependencies, this.selectable, requested);
  }

  async start(
    requested: readonly string[],
    context: Omit<ModuleContext, 'readiness'>,
  ): Promise<StartedModules> {
    const order = this.order(requested);
    const running = new Map<string, RunningModule<unknown>>();
    const started = new Set<string>();

    const readiness = async (): Promise<ReadinessReport> => {
      const checks = await Promise.all(
        order.map((name) => {
          const module = running.get(name);
          if (module === undefined || !started.has(name)) {
            return { module: name, ok: false, error: 'not started' };
          }
          return check(name, module);
        }),
      );
      return { ready: checks.every((c) => c.ok), checks };
    };

    const stop = async (): Promise<void> => {
      for (const [name, module] of running) {
        try {
          await module.quiesce?.();
        } catch (error) {
          context.log.error({ module: name, err: error }, 'module failed to quiesce');
        }
      }
      for (const name of [...running.keys()].reverse()) {
        const module = running.get(name);
        running.delete(name);
        started.delete(name);
        try {
          await module?.stop?.();
          context.log.debug({ module: name }, 'module stopped');
        } catch (error) {
          context.log.error({ module: name, err: error }, 'module failed to stop');
        }
      }
    };

    try {
      for (const name of order) {
        const definition = this.definitions[name];
        if (definition === undefined) throw new Error(`module '${name}' is not defined`);
        const deps = Object.fromEntries(
          (this.dependencies[name] ?? []).map((dep) => [dep, running.get(dep)?.exports]),
        );
        const module = await definition.init(
          { ...context, log: context.log.child({ module: name }), readiness },
          deps as never,
        );
        running.set(name, module);
      }
      for (const name of order) {
        await running.get(name)?.start?.();
        started.add(name);
        context.log.debug({ module: name }, 'module started');
      }
      for (const name of order) await running.get(name)?.open?.();
    } catch (error) {
      await stop();
      throw error;
    }

    return {
      names: order,
      exports: (name) => running.get(name)?.exports,
      readiness,
      stop,
    };
  }
}
