import { describe, expect, it } from 'vitest';
import type { DesiredStateMessage } from '@flock/protocol';
import {
  managedLabel,
  releaseLabel,
  serviceLabel,
  specHashLabel,
} from '../runtime/container-runtime.js';
import { readCommand, readPorts, readVolumes } from './compose-fields.js';
import { targetFromDesired } from './target-state.js';

const image = `registry.example/app@sha256:${'d'.repeat(64)}`;

function desired(
  compose: Record<string, unknown>,
  environment: Record<string, Record<string, string>> = {},
): DesiredStateMessage {
  return {
    v: 1,
    revision: 3,
    release: { id: 'rel-9', version: 9, compose, content_hash: 'x' },
    environment,
    config: {
      heartbeat_interval_seconds: 60,
      telemetry_interval_seconds: 60,
      updates_paused: false,
    },
  };
}

describe('targetFromDesired', () => {
  it('maps a normalised compose service to a ContainerSpec', () => {
    const target = targetFromDesired(
      desired(
        {
          services: {
            api: {
              image,
              command: ['node', 'server.js'],
              entrypoint: '/bin/sh -c',
              environment: { PORT: '8080', TOKEN: null, UNSET: null },
              ports: ['8080:80/tcp', { target: 53, published: '5353', protocol: 'udp' }],
              volumes: [
                'data:/var/lib/app',
                '/srv/config:/etc/app:ro',
                { type: 'tmpfs', target: '/tmp' },
              ],
              restart: 'unless-stopped',
              labels: { team: 'edge' },
              network_mode: 'host',
              privileged: true,
            },
          },
        },
        { api: { TOKEN: 'secret' } },
      ),
    );
    expect(target.invalid).toEqual([]);
    expect(target.releaseId).toBe('rel-9');
    const [api] = target.services;
    expect(api!.spec).toEqual({
      name: `flock_api_${api!.hash.slice(0, 12)}`,
      image,
      command: ['node', 'server.js'],
      entrypoint: ['/bin/sh', '-c'],
      environment: { PORT: '8080', TOKEN: 'secret' },
      ports: [
        { container: 80, host: 8080, protocol: 'tcp' },
        { container: 53, host: 5353, protocol: 'udp' },
      ],
      volumes: [
        { source: 'flock_data', target: '/var/lib/app' },
        { source: '/srv/config', target: '/etc/app', readOnly: true },
      ],
      restart: 'unless-stopped',
      labels: {
        team: 'edge',
        [managedLabel]: 'true',
        [serviceLabel]: 'api',
        [releaseLabel]: 'rel-9',
        [specHashLabel]: api!.hash,
      },
      networkMode: 'host',
      privileged: true,
    });
  });

  it('defaults restart to always and accepts list-form environment', () => {
    const target = targetFromDesired(
      desired({ services: { w: { image, environment: ['A=1', 'B=x=y'] } } }),
    );
    expect(target.services[0]!.spec.restart).toBe('always');
    expect(target.services[0]!.spec.environment).toEqual({ A: '1', B: 'x=y' });
  });

  it('keeps the hash when only the release changes', () => {
    const a = targetFromDesired(desired({ services: { w: { image } } }));
    const b = targetFromDesired({
      ...desired({ services: { w: { image } } }),
      release: {
        id: 'rel-10',
        version: 10,
        compose: { services: { w: { image } } },
        content_hash: 'y',
      },
    });
    expect(b.services[0]!.hash).toBe(a.services[0]!.hash);
    expect(b.services[0]!.spec.labels[releaseLabel]).toBe('rel-10');
  });

  it('reports services it cannot run instead of throwing', () => {
    const target = targetFromDesired(
      desired({
        services: {
          ok: { image },
          noimage: {},
          badport: { image, ports: ['eighty'] },
          badrestart: { image, restart: 'sometimes' },
        },
      }),
    );
    expect(target.services.map((s) => s.name)).toEqual(['ok']);
    expect(target.invalid.map((i) => i.name)).toEqual(['badport', 'badrestart', 'noimage']);
    expect(target.invalid[0]!.problem).toContain('eighty');
  });

  it('has no services without a desired release', () => {
    expect(targetFromDesired(undefined).services).toEqual([]);
    expect(targetFromDesired({ ...desired({}), release: null })).toMatchObject({
      releaseId: null,
      services: [],
    });
  });
});

describe('compose fields', () => {
  it('splits a command string like a shell', () => {
    expect(readCommand(`sh -c 'echo "hi there"' a\\ b "x\\"y"`, 'command')).toEqual({
      ok: true,
      value: ['sh', '-c', 'echo "hi there"', 'a b', 'x"y'],
    });
    expect(readCommand('echo "open', 'command').ok).toBe(false);
  });

  it('reads short port syntax with addresses and ranges', () => {
    expect(readPorts(['127.0.0.1:8000-8001:80-81/udp', '9000', 22])).toEqual({
      ok: true,
      value: [
        { container: 80, host: 8000, protocol: 'udp' },
        { container: 81, host: 8001, protocol: 'udp' },
        { container: 9000, protocol: 'tcp' },
        { container: 22, protocol: 'tcp' },
      ],
    });
  });

  it('gives anonymous volumes a stable name per service and path', () => {
    expect(readVolumes(['/var/cache/app'], 'web')).toEqual({
      ok: true,
      value: [{ source: 'flock_web_var_cache_app', target: '/var/cache/app' }],
    });
  });
});
