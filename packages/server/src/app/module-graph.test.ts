import { describe, expect, it } from 'vitest';
import { DependencyCycleError, startOrder, UnknownTargetError } from './module-graph.js';
import { dependencies, selectableModules, targets } from './modules.js';

describe('startOrder', () => {
  const graph = {
    config: [],
    db: ['config'],
    bus: ['config'],
    api: ['db', 'bus'],
    ingester: ['bus', 'db'],
    all: ['api', 'ingester'],
  };
  const selectable = ['api', 'ingester', 'all'];

  it('puts every module after its dependencies, each once', () => {
    const order = startOrder(graph, selectable, ['all']);
    expect(order).toEqual(['config', 'db', 'bus', 'api', 'ingester', 'all']);
  });

  it('starts only what the requested targets need', () => {
    expect(startOrder(graph, selectable, ['ingester'])).toEqual([
      'config',
      'bus',
      'db',
      'ingester',
    ]);
  });

  it('accepts a comma list whose targets share dependencies', () => {
    const order = startOrder(graph, selectable, ['api', 'ingester']);
    expect(order.filter((m) => m === 'db')).toHaveLength(1);
    expect(order.indexOf('db')).toBeLessThan(order.indexOf('api'));
  });

  it('rejects unknown targets and lists the valid ones', () => {
    expect(() => startOrder(graph, selectable, ['api', 'nope'])).toThrow(UnknownTargetError);
    expect(() => startOrder(graph, selectable, ['nope'])).toThrow(
      "unknown target 'nope'; valid targets are: api, ingester, all",
    );
  });

  it('refuses infrastructure modules as targets', () => {
    expect(() => startOrder(graph, selectable, ['db'])).toThrow(UnknownTargetError);
  });

  it('names the cycle', () => {
    const cyclic = { a: ['b'], b: ['c'], c: ['a'] };
    expect(() => startOrder(cyclic, ['a'], ['a'])).toThrow(
      new DependencyCycleError(['a', 'b', 'c', 'a']),
    );
  });
});

describe('the server graph', () => {
  it('has no cycle and runs every target under all', () => {
    const order = startOrder(dependencies, selectableModules, ['all']);
    for (const target of targets) expect(order).toContain(target);
    expect(order.at(-1)).toBe('all');
  });

  it('lists only real targets plus all', () => {
    expect(selectableModules).toEqual([...targets, 'all']);
  });
});
