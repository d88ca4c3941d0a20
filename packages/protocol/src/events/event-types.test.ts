import { describe, expect, it } from 'vitest';
import {
  eventTypePattern,
  eventTypesMatching,
  matchesEventType,
  matchesEventTypes,
  publicEventTypes,
} from './event-types.js';

describe('event type filters', () => {
  it('selects one type exactly', () => {
    expect(matchesEventType('device.online', 'device.online')).toBe(true);
    expect(matchesEventType('device.online', 'device.offline')).toBe(false);
    expect(matchesEventType('device.online', 'device.online.extra')).toBe(false);
  });

  it('selects every type of a resource with a wildcard, and no other resource', () => {
    expect(eventTypesMatching('rollout.*')).toEqual([
      'rollout.started',
      'rollout.stage_advanced',
      'rollout.completed',
      'rollout.failed',
      'rollout.rolled_back',
    ]);
    // `device.*` must not leak into a resource whose name starts the same way.
    expect(matchesEventType('device.*', 'devices.online')).toBe(false);
    expect(matchesEventType('update.*', 'update.completed')).toBe(true);
  });

  it('selects everything with a star', () => {
    expect(eventTypesMatching('*')).toEqual([...publicEventTypes]);
  });

  it('selects nothing with a malformed filter', () => {
    for (const pattern of [
      '',
      '**',
      'rollout',
      'rollout.',
      '*.online',
      'Device.online',
      'a.b.c',
      'rollout*',
    ]) {
      expect(new RegExp(eventTypePattern).test(pattern), pattern).toBe(false);
      expect(eventTypesMatching(pattern), pattern).toEqual([]);
    }
  });

  it('matches when any filter of a subscription does', () => {
    expect(matchesEventTypes(['device.online', 'rollout.*'], 'rollout.failed')).toBe(true);
    expect(matchesEventTypes(['device.online', 'rollout.*'], 'release.created')).toBe(false);
    expect(matchesEventTypes([], 'release.created')).toBe(false);
  });

  it('accepts every catalogue type as its own filter', () => {
    for (const type of publicEventTypes)
      expect(new RegExp(eventTypePattern).test(type), type).toBe(true);
  });
});
