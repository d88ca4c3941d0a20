import { describe, expect, it } from 'vitest';
import {
  allDevices,
  deviceTopic,
  parseDeviceTopic,
  parsePublicEventTopic,
  publicEventsFilter,
  publicEventTopic,
} from './topics.js';

describe('device topics', () => {
  it('builds and parses a device topic', () => {
    const topic = deviceTopic('d1', 'state');
    expect(topic).toBe('devices/d1/state');
    expect(parseDeviceTopic(topic)).toEqual({ deviceId: 'd1', channel: 'state' });
    expect(allDevices('telemetry')).toBe('devices/+/telemetry');
  });

  it('puts an installation prefix before a device topic', () => {
    expect(deviceTopic('d1', 'desired', 'site-a/')).toBe('site-a/devices/d1/desired');
    expect(deviceTopic('d1', 'desired', '')).toBe(deviceTopic('d1', 'desired'));
  });

  it('refuses topics outside the device namespace', () => {
    for (const topic of [
      'devices/d1',
      'devices//state',
      'devices/d1/other',
      'flock/internal/v1/audit',
      'devices/d1/state/x',
    ]) {
      expect(parseDeviceTopic(topic), topic).toBeUndefined();
    }
  });
});

describe('public event topics', () => {
  it('builds and parses the topic of a public event', () => {
    const topic = publicEventTopic('org-1', 'rollout.stage_advanced');
    expect(topic).toBe('flock/events/v1/org-1/rollout/stage_advanced');
    expect(parsePublicEventTopic(topic)).toEqual({
      orgId: 'org-1',
      type: 'rollout.stage_advanced',
    });
  });

  it('filters one org or all of them', () => {
    expect(publicEventsFilter('org-1')).toBe('flock/events/v1/org-1/#');
    expect(publicEventsFilter()).toBe('flock/events/v1/+/#');
  });

  it('refuses other topics', () => {
    for (const topic of [
      'flock/events/v1/org-1/device',
      'flock/events/v2/o/device/online',
      'flock/events/v1//device/online',
      'devices/d1/events',
    ]) {
      expect(parsePublicEventTopic(topic), topic).toBeUndefined();
    }
  });
});
