import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeLoki } from '../support/fake-loki.js';
import { startServer } from '../support/server-process.js';
import { waitFor } from '../support/wait-for.js';

/** Two real server starts; generous because CI machines run many test files at once. */
const startTimeoutMs = 60_000;

describe('flock-server first start without an OIDC issuer', () => {
  let dataDir: string;
  let loki: FakeLoki;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-bootstrap-'));
    loki = new FakeLoki();
    await loki.start();
  });
  afterAll(async () => {
    await loki?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'prints an owner key once, saves it privately, and ships the audit trail to Loki',
    async () => {
      const env = { FLOCK_DATA_DIR: dataDir, FLOCK_AUDIT_LOKI_URL: loki.url };
      const first = await startServer(['--target=api'], env, { timeoutMs: startTimeoutMs });
      let key: string;
      try {
        const banner = first.stderr();
        const printed = /^ {6}(flk_\S+)$/m.exec(banner);
        expect(printed, banner).not.toBeNull();
        key = printed![1]!;
        expect(banner).toContain(`curl -H "Authorization: Bearer ${key}" ${first.url}/v1/me`);
        expect(first.logs.map((l) => JSON.stringify(l)).join('\n')).not.toContain(key);

        const file = join(dataDir, 'bootstrap-owner-key');
        expect(await readFile(file, 'utf8')).toBe(`${key}\n`);
        expect((await stat(file)).mode & 0o777).toBe(0o600);

        const orgId = first.logs.find((l) =>
          l.msg.startsWith('created the bootstrap owner API key'),
        )?.orgId;
        expect(typeof orgId).toBe('string');
        const listed = await fetch(`${first.url}/v1/orgs/${String(orgId)}/api-keys`, {
          headers: { authorization: `Bearer ${key}` },
        });
        expect(listed.status).toBe(200);

        await waitFor(() => loki.accepted.length >= 2, {
          timeoutMs: 10_000,
          message: 'audit events in Loki',
        });
        expect(
          loki.accepted.map((a) => [a.event.seq, a.event.action, a.labels.actor_type]),
        ).toEqual([
          [1, 'org.bootstrapped', 'system'],
          [2, 'api_key.created', 'system'],
        ]);
      } finally {
        expect((await first.stop()).code).toBe(0);
      }

      const second = await startServer(['--target=api'], env, { timeoutMs: startTimeoutMs });
      try {
        expect(second.stderr()).not.toContain('flk_');
        expect(second.stderr()).not.toContain('BOOTSTRAP');
        const listed = await fetch(
          `${second.url}/v1/orgs/${'00000000-0000-4000-8000-000000000000'}/api-keys`,
          {
            headers: { authorization: `Bearer ${key}` },
          },
        );
        expect(listed.status).toBe(404);
      } finally {
        expect((await second.stop()).code).toBe(0);
      }
      expect(loki.accepted).toHaveLength(2);
    },
    3 * startTimeoutMs,
  );
});
