import type { EffectiveVariable, VariableSource } from '@flock/protocol';

/** A stored variable as precedence needs it; `value` is null for secrets. */
export interface ScopedVariable {
  id: string;
  device_id: string | null;
  service: string | null;
  name: string;
  value: string | null;
  secret: boolean;
}

function sourceOf(variable: ScopedVariable): VariableSource {
  if (variable.device_id !== null) return variable.service === null ? 'device' : 'device_service';
  return variable.service === null ? 'fleet' : 'fleet_service';
}

/** Most specific first: this device and service, this device, the fleet and service, the fleet. */
const rank: Record<VariableSource, number> = {
  device_service: 0,
  device: 1,
  fleet_service: 2,
  fleet: 3,
};

/**
 * The variables `service` gets (null: a service no variable names), each with
 * the layer it came from and the less specific definitions it overrides.
 * `variables` are the fleet's and the device's; those of other services are ignored.
 */
export function effectiveVariables(
  variables: readonly ScopedVariable[],
  service: string | null,
): EffectiveVariable[] {
  const byName = new Map<string, ScopedVariable[]>();
  for (const variable of variables) {
    if (variable.service !== null && variable.service !== service) continue;
    const list = byName.get(variable.name) ?? [];
    list.push(variable);
    byName.set(variable.name, list);
  }
  return [...byName.keys()].sort().map((name) => {
    const [winner, ...rest] = (byName.get(name) ?? []).sort(
      (a, b) => rank[sourceOf(a)] - rank[sourceOf(b)],
    );
    if (winner === undefined) throw new Error(`no definition of ${name}`);
    return {
      name,
      value: winner.secret ? null : winner.value,
      secret: winner.secret,
      source: sourceOf(winner),
      variable_id: winner.id,
      shadowed: rest.map((variable) => ({ source: sourceOf(variable), variable_id: variable.id })),
    };
  });
}

/** The service names a release's compose document declares; none when it is not one. */
export function composeServices(compose: unknown): string[] {
  if (typeof compose !== 'object' || compose === null) return [];
  const services = (compose as { services?: unknown }).services;
  if (typeof services !== 'object' || services === null || Array.isArray(services)) return [];
  return Object.keys(services);
}
