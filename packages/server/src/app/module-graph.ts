export class UnknownTargetError extends Error {
  constructor(
    readonly unknown: string[],
    readonly valid: readonly string[],
  ) {
    super(
      `unknown target${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `'${t}'`).join(', ')}; valid targets are: ${valid.join(', ')}`,
    );
    this.name = 'UnknownTargetError';
  }
}

export class DependencyCycleError extends Error {
  constructor(readonly cycle: string[]) {
    super(`module dependency cycle: ${cycle.join(' -> ')}`);
    this.name = 'DependencyCycleError';
  }
}

/**
 * The modules needed to run `requested`, each after everything it depends on.
 * Only names in `selectable` may be requested; the others are reached as
 * dependencies.
 */
export function startOrder(
  dependencies: Readonly<Record<string, readonly string[]>>,
  selectable: readonly string[],
  requested: readonly string[],
): string[] {
  const unknown = requested.filter((name) => !selectable.includes(name));
  if (unknown.length > 0) throw new UnknownTargetError(unknown, selectable);

  const order: string[] = [];
  const done = new Set<string>();
  const visiting: string[] = [];

  const visit = (name: string): void => {
    if (done.has(name)) return;
    const seen = visiting.indexOf(name);
    if (seen !== -1) throw new DependencyCycleError([...visiting.slice(seen), name]);
    const deps = dependencies[name];
    if (deps === undefined) throw new Error(`module '${name}' is not defined`);
    visiting.push(name);
    for (const dep of deps) visit(dep);
    visiting.pop();
    done.add(name);
    order.push(name);
  };

  for (const name of requested) visit(name);
  return order;
}
