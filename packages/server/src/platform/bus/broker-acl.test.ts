import { describe, expect, it } from 'vitest';
import type { BrokerPrincipal } from './broker-access.js';
import { BrokerAcl } from './broker-acl.js';

const id = '3f2c1e9a-7b6d-4c5e-8f1a-2b3c4d5e6f70';
const other = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const device: BrokerPrincipal = { kind: 'device', deviceId: id, expiresAt: new Date(8e15) };
const service: BrokerPrincipal = { kind: 'service' };

describe('BrokerAcl', () => {
  const acl = new BrokerAcl('');

  it.each(['state', 'telemetry', 'logs', 'events'])('lets a device publish its own %s', (c) => {
    expect(acl.mayPublish(device, `devices/${id}/${c}`)).toBe(true);
  });

  it.each([
    `devices/${other}/state`,
    `devices/${id}/desired`,
    `devices/${id}/commands`,
    `devices/${id}/state/extra`,
    `devices/${id}`,
    'flock/internal/v1/audit',
    'flock/events/v1/device/online',
    '$SYS/broker/uptime',
    `$share/g/devices/${id}/state`,
  ])('refuses a device publishing to %s', (topic) => {
    expect(acl.mayPublish(device, topic)).toBe(false);
  });

  it.each(['desired', 'commands'])('lets a device subscribe to its own %s', (channel) => {
    expect(acl.maySubscribe(device, `devices/${id}/${channel}`)).toBe(true);
    expect(acl.mayReceive(device, `devices/${id}/${channel}`)).toBe(true);
  });

  it.each([
    `devices/${other}/desired`,
    `devices/${id}/state`,
    `devices/${id}/+`,
    `devices/${id}/#`,
    'devices/+/desired',
    'devices/+/state',
    '#',
    '+/+/+',
    'flock/#',
    'flock/internal/v1/audit',
    '$SYS/#',
    `$share/g/devices/${id}/desired`,
  ])('refuses a device subscribing to %s', (filter) => {
    expect(acl.maySubscribe(device, filter)).toBe(false);
    expect(acl.mayReceive(device, filter)).toBe(false);
  });

  it('puts device topics under the installation prefix', () => {
    const prefixed = new BrokerAcl('site-a/');
    expect(prefixed.mayPublish(device, `site-a/devices/${id}/state`)).toBe(true);
    expect(prefixed.mayPublish(device, `devices/${id}/state`)).toBe(false);
    expect(prefixed.maySubscribe(device, `site-a/devices/${id}/desired`)).toBe(true);
  });

  it.each(['+', '#', 'a/b', '', '$x'])('gives a device whose id is %j no topics at all', (bad) => {
    const odd: BrokerPrincipal = { ...device, deviceId: bad };
    expect(acl.maySubscribe(odd, `devices/${bad}/desired`)).toBe(false);
    expect(acl.mayPublish(odd, `devices/${bad}/state`)).toBe(false);
  });

  it('lets Flock processes publish and subscribe anywhere', () => {
    expect(acl.mayPublish(service, 'flock/internal/v1/audit')).toBe(true);
    expect(acl.mayPublish(service, `devices/${id}/desired`)).toBe(true);
    expect(acl.maySubscribe(service, '$share/ingesters/devices/+/state')).toBe(true);
    expect(acl.maySubscribe(service, '#')).toBe(true);
  });
});
