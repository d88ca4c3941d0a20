import { parseMessage } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { buildHeartbeat, deviceAddresses } from './heartbeat.js';

describe('buildHeartbeat', () => {
  it('builds a state message the server accepts', () => {
    const message = buildHeartbeat({
      status: {
        services: [
          {
            name: 'web',
            image: 'nginx@sha256:' + 'a'.repeat(64),
            status: 'running',
            container_id: 'c1',
          },
        ],
        update: { release_id: 'rel-1', status: 'succeeded' },
        runningReleaseId: 'rel-1',
        appliedRevision: 4,
      },
      agentVersion: '0.1.0',
      osVersion: 'Debian GNU/Linux 12 (bookworm)',
      telemetry: {
        v: 1,
        sent_at: new Date().toISOString(),
        memory_used_bytes: 1,
        memory_total_bytes: 2,
        disk_used_bytes: 3,
        disk_total_bytes: 4,
      },
    });
    expect(parseMessage('state', JSON.stringify(message))).toMatchObject({ ok: true });
    expect(message).toMatchObject({
      running_release_id: 'rel-1',
      applied_revision: 4,
      resources: { cpu_percent: 0, memory_total_bytes: 2, disk_total_bytes: 4 },
    });
  });

  it('lists addresses without loopback and link-local ones', () => {
    const entry = (address: string, internal = false) => ({
      address,
      internal,
      netmask: '',
      family: address.includes(':') ? ('IPv6' as const) : ('IPv4' as const),
      mac: '',
      cidr: null,
      scopeid: 0,
    });
    expect(
      deviceAddresses({
        lo: [entry('127.0.0.1', true)],
        eth0: [entry('192.168.1.20'), entry('fe80::1'), entry('2001:db8::5')],
        usb0: [entry('169.254.3.3')],
      }),
    ).toEqual(['192.168.1.20', '2001:db8::5']);
  });
});
