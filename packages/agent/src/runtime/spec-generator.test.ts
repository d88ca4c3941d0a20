import { describe, expect, it } from 'vitest';
import { type ContainerSpec, managedLabel } from './container-runtime.js';
import { toSpecGenerator } from './spec-generator.js';

const base: ContainerSpec = {
  name: 'flock_web_1',
  image: 'registry.example.com/web@sha256:' + 'a'.repeat(64),
  environment: { PORT: '8080', MODE: 'production' },
  ports: [],
  volumes: [],
  restart: 'always',
  labels: { [managedLabel]: 'true', 'io.flock.service': 'web' },
};

describe('toSpecGenerator', () => {
  it('maps a full spec onto the libpod fields', () => {
    const spec: ContainerSpec = {
      ...base,
      command: ['serve', '--port', '8080'],
      entrypoint: ['/app/bin'],
      ports: [
        { container: 8080, host: 80, protocol: 'tcp' },
        { container: 5353, protocol: 'udp' },
      ],
      volumes: [
        { source: 'web-data', target: '/var/lib/web' },
        { source: 'web-cache', target: '/cache', readOnly: true },
        { source: '/etc/ssl/certs', target: '/certs', readOnly: true },
        { source: '/dev/ttyUSB0', target: '/dev/ttyUSB0' },
      ],
      restart: 'on-failure',
      privileged: true,
      networkMode: 'host',
    };
    expect(toSpecGenerator(spec)).toEqual({
      name: 'flock_web_1',
      image: base.image,
      command: ['serve', '--port', '8080'],
      entrypoint: ['/app/bin'],
      env: { PORT: '8080', MODE: 'production' },
      labels: base.labels,
      portmappings: [
        { container_port: 8080, host_port: 80, protocol: 'tcp' },
        { container_port: 5353, protocol: 'udp' },
      ],
      volumes: [
        { Name: 'web-data', Dest: '/var/lib/web', Options: [] },
        { Name: 'web-cache', Dest: '/cache', Options: ['ro'] },
      ],
      mounts: [
        { destination: '/certs', type: 'bind', source: '/etc/ssl/certs', options: ['rbind', 'ro'] },
        {
          destination: '/dev/ttyUSB0',
          type: 'bind',
          source: '/dev/ttyUSB0',
          options: ['rbind', 'rw'],
        },
      ],
      restart_policy: 'on-failure',
      netns: { nsmode: 'host' },
      privileged: true,
    });
  });

  it("leaves out what the spec leaves to the image and the engine's defaults", () => {
    const generator = toSpecGenerator(base);
    expect(Object.keys(generator).sort()).toEqual(
      [
        'env',
        'image',
        'labels',
        'mounts',
        'name',
        'portmappings',
        'restart_policy',
        'volumes',
      ].sort(),
    );
  });

  it('does not share arrays or objects with the spec', () => {
    const spec: ContainerSpec = { ...base, command: ['a'] };
    const generator = toSpecGenerator(spec);
    generator.command?.push('b');
    generator.env['EXTRA'] = '1';
    expect(spec.command).toEqual(['a']);
    expect(spec.environment).not.toHaveProperty('EXTRA');
  });

  it.each([
    [undefined, {}],
    ['default', {}],
    ['none', { netns: { nsmode: 'none' } }],
    ['bridge', { netns: { nsmode: 'bridge' } }],
    ['slirp4netns', { netns: { nsmode: 'slirp4netns' } }],
    ['container:flock_db_1', { netns: { nsmode: 'container', value: 'flock_db_1' } }],
    ['ns:/run/netns/edge', { netns: { nsmode: 'path', value: '/run/netns/edge' } }],
    ['flock_backend', { netns: { nsmode: 'bridge' }, networks: { flock_backend: {} } }],
  ])('maps network mode %s', (networkMode, expected) => {
    const generator = toSpecGenerator({ ...base, networkMode });
    expect({ netns: generator.netns, networks: generator.networks }).toEqual({
      netns: undefined,
      networks: undefined,
      ...expected,
    });
  });
});
