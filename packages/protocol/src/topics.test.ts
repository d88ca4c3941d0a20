import { describe, expect, it } from 'vitest';
import { allDevices, deviceTopic, parseDeviceTopic } from './topics.js';

describe('device topics', () => {
  it('builds and parses a device topic', () => {
    const topic = deviceTopic('d1', 'state');
    expect(topic).toBe('devices/d1/state');
    expect(parseDeviceTopic(topic)).toEqual({ deviceId: 'd1', channel: 'state' });
    expect(allDevices('telemetry')).toBe('devices/+/telemetry');
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
