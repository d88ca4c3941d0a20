import { describe, expect, it } from 'vitest';
import type { ComposePath } from './compose-checks.js';
import { unescapeComposeString } from './compose-checks.js';
import { parseCompose } from './parse-compose.js';

const digest = `sha256:${'0f'.repeat(32)}`;
const image = `nginx:1.27@${digest}`;

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = parseCompose(input);
  if (result.ok) throw new Error('expected issues');
  return result.issues.map((issue) => ({ path: join(issue.path), message: issue.message }));
}

const join = (path: ComposePath) => path.join('.');

function paths(input: unknown): string[] {
  return issuesOf(input).map((issue) => issue.path);
}

function parsed(input: unknown) {
  const result = parseCompose(input);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.compose;
}

describe('parseCompose', () => {
  it('keeps a valid file and sorts its keys', () => {
    const compose = parsed({
      services: { web: { restart: 'always', image }, db: { image } },
      volumes: { data: null },
    });
    expect(compose).toEqual({
      services: { db: { image }, web: { image, restart: 'always' } },
      volumes: { data: {} },
    });
    expect(Object.keys(compose.services)).toEqual(['db', 'web']);
    expect(Object.keys(compose.services.web ?? {})).toEqual(['image', 'restart']);
  });

  it('normalises lists to maps and drops version and extensions', () => {
    const compose = parsed({
      version: '3.8',
      'x-common': { anything: true },
      services: {
        web: {
          image,
          'x-note': 'dropped',
          environment: ['B=2', 'A=1=1', 'UNSET'],
          labels: ['io.flock.role=edge', 'flag'],
          depends_on: ['db'],
          networks: ['front'],
          ports: [8080, '127.0.0.1:8443:443/tcp'],
          healthcheck: { test: 'curl -f http://localhost/', interval: '30s' },
          extra_hosts: { 'gateway.local': '10.0.0.1' },
        },
        db: { image, environment: { PORT: 5432, DEBUG: false, EMPTY: null } },
      },
      networks: { front: {} },
    });
    expect(compose).not.toHaveProperty('version');
    expect(compose).not.toHaveProperty('x-common');
    expect(compose.services.web).toEqual({
      image,
      environment: { A: '1=1', B: '2', UNSET: null },
      labels: { flag: '', 'io.flock.role': 'edge' },
      depends_on: { db: { condition: 'service_started' } },
      networks: { front: {} },
      ports: ['8080', '127.0.0.1:8443:443/tcp'],
      healthcheck: { test: ['CMD-SHELL', 'curl -f http://localhost/'], interval: '30s' },
      extra_hosts: ['gateway.local=10.0.0.1'],
    });
    expect(compose.services.db?.environment).toEqual({ DEBUG: 'false', EMPTY: null, PORT: '5432' });
  });

  it('is idempotent: a normalised file parses to itself', () => {
    const once = parsed({
      services: {
        web: {
          image,
          environment: ['A=$$HOME'],
          depends_on: ['db'],
          volumes: ['data:/data:ro', '/dev/bus/usb:/dev/bus/usb'],
          command: 'echo $$PATH',
        },
        db: { image },
      },
      volumes: { data: { driver: 'local' } },
    });
    expect(parsed(once)).toEqual(once);
    expect(once.services.web?.environment).toEqual({ A: '$$HOME' });
  });

  it('refuses a tag-only or untagged image, naming the service', () => {
    const issues = issuesOf({
      services: { web: { image: 'nginx:1.27' }, api: { image: 'acme/api' } },
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'services.api.image',
      'services.web.image',
    ]);
    expect(issues[0]?.message).toMatch(/^image must be pinned by digest \(…@sha256:…\)/);
  });

  it('requires services, each with an image', () => {
    expect(paths({})).toEqual(['services']);
    expect(paths({ services: {} })).toEqual(['services']);
    expect(paths({ services: { web: { restart: 'always' } } })).toEqual(['services.web.image']);
    expect(paths({ services: { web: null } })).toEqual(['services.web']);
    expect(paths([])).toEqual(['']);
  });

  it('refuses unknown and unsupported keys, saying what to do instead', () => {
    const issues = issuesOf({
      services: { web: { image, build: '.', imagee: 'typo', env_file: '.env' } },
      secrets: {},
      whatever: 1,
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'secrets',
      'services.web.build',
      'services.web.env_file',
      'services.web.imagee',
      'whatever',
    ]);
    expect(issues.find((issue) => issue.path === 'services.web.build')?.message).toMatch(
      /pin it by digest/,
    );
  });

  it('checks references between services, networks and volumes', () => {
    expect(
      paths({
        services: {
          web: {
            image,
            depends_on: ['nope', 'web'],
            networks: ['back'],
            volumes: ['cache:/cache'],
          },
          side: { image, network_mode: 'service:ghost' },
        },
      }).sort(),
    ).toEqual([
      'services.side.network_mode',
      'services.web.depends_on.0',
      'services.web.depends_on.1',
      'services.web.networks.0',
      'services.web.volumes.0',
    ]);
  });

  it('finds a depends_on cycle', () => {
    const issues = issuesOf({
      services: {
        a: { image, depends_on: ['b'] },
        b: { image, depends_on: { c: { condition: 'service_healthy' } } },
        c: { image, depends_on: ['a'] },
      },
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/cycle: a → b → c → a/);
  });

  it('checks common keys', () => {
    expect(
      paths({
        services: {
          web: {
            image,
            ports: ['70000:80', 'http', { published: 80 }],
            restart: 'sometimes',
            environment: ['BAD NAME=1', 'A=1', 'A=2'],
            volumes: ['./data:/data', 'relative', '/x:/y:rw,bogus'],
            privileged: 'yes',
            cpus: 0,
            stop_grace_period: 'soon',
            healthcheck: { test: ['RUN', 'x'], retries: -1 },
          },
        },
      }).sort(),
    ).toEqual([
      'services.web.cpus',
      'services.web.environment.0',
      'services.web.environment.2',
      'services.web.healthcheck.retries',
      'services.web.healthcheck.test',
      'services.web.ports.0',
      'services.web.ports.1',
      'services.web.ports.2.target',
      'services.web.privileged',
      'services.web.restart',
      'services.web.stop_grace_period',
      'services.web.volumes.0',
      'services.web.volumes.1',
      'services.web.volumes.2',
    ]);
  });

  it('refuses interpolation but keeps $$ as written', () => {
    const issues = issuesOf({
      services: { web: { image, environment: { HOME: '${HOME}', USER: '$USER' } } },
    });
    expect(issues.map((issue) => issue.path).sort()).toEqual([
      'services.web.environment.HOME',
      'services.web.environment.USER',
    ]);
    expect(issues[0]?.message).toMatch(/interpolation/);
    expect(
      parsed({ services: { web: { image, command: ['sh', '-c', 'echo $$HOME $ 5$'] } } }).services
        .web?.command,
    ).toEqual(['sh', '-c', 'echo $$HOME $ 5$']);
  });

  it('unescapes $$ only when a container gets the string', () => {
    expect(unescapeComposeString('echo $$HOME $$$$ 5$')).toBe('echo $HOME $$ 5$');
  });

  it('refuses strings PostgreSQL cannot store', () => {
    expect(paths({ services: { web: { image, hostname: 'a\u0000b' } } })).toEqual([
      'services.web.hostname',
    ]);
    expect(paths({ services: { web: { image, hostname: 'a\ud800' } } })).toEqual([
      'services.web.hostname',
    ]);
  });

  it('does not let __proto__ reach a prototype', () => {
    const input = JSON.parse(
      `{"services":{"web":{"image":"${image}","environment":{"__proto__":"x"}}}}`,
    );
    const compose = parsed(input);
    expect(Object.getPrototypeOf(compose.services.web?.environment)).toBe(Object.prototype);
    expect(Object.hasOwn(compose.services.web?.environment ?? {}, '__proto__')).toBe(true);
  });
});
