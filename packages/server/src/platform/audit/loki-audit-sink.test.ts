import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../test/support/api-harness.js';
import { FakeLoki } from '../../../test/support/fake-loki.js';
import { waitFor } from '../../../test/support/wait-for.js';
import { recordAuditEvent } from './audit-log.js';
import { LokiAuditSink, lokiSinkName } from './loki-audit-sink.js';

describe.each(apiBackends)('Loki audit sink on %s', (backend) => {
  let api: TestApi;
  let loki: FakeLoki;
  const sinks: LokiAuditSink[] = [];
  const log = pino({ level: 'silent' });

  const record = (orgId: string, action: string, resourceId = 'r') =>
    api.database.transaction((tx) =>
      recordAuditEvent(tx, {
        orgId,
        actor: { type: 'api_key', id: 'k1' },
        action,
        resourceType: action.split('.')[0]!,
        resourceId,
        summary: { resourceId },
      }),
    );
  const sink = (url = loki.url) => {
    const created = new LokiAuditSink({
      db: api.database.db,
      url,
      log,
      pollIntervalMs: 20,
      minBackoffMs: 5,
      maxBackoffMs: 40,
    });
    sinks.push(created);
    return created;
  };
  const position = async (orgId: string) =>
    (
      await api.database.db
        .selectFrom('audit_sink_positions')
        .select('seq')
        .where('sink', '=', lokiSinkName)
        .where('org_id', '=', orgId)
        .executeTakeFirst()
    )?.seq;
  const shippedOf = (orgId: string) =>
    loki.accepted.filter((a) => a.event.org_id === orgId).map((a) => a.event.seq);

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [] });
    loki = new FakeLoki();
    await loki.start();
  });
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
    loki.failures = [];
  });
  afterAll(async () => {
    await loki?.stop();
    await api?.close();
  });

  it('pushes the event JSON under low-cardinality labels', async () => {
    const orgId = await api.createOrg();
    const created = await record(orgId, 'fleet.created', 'f1');
    await record(orgId, 'fleet.created', 'f2');
    await record(orgId, 'api_key.revoked', 'k9');
    expect(await sink().shipPending()).toBe(3);

    const request = loki.requests.at(-1)!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body.streams.map((s) => s.stream)).toEqual([
      {
        job: 'flock-audit',
        org: orgId,
        actor_type: 'api_key',
        action: 'fleet.created',
        resource_type: 'fleet',
      },
      {
        job: 'flock-audit',
        org: orgId,
        actor_type: 'api_key',
        action: 'api_key.revoked',
        resource_type: 'api_key',
      },
    ]);
    const [ns, line] = request.body.streams[0]!.values[0]!;
    expect(ns).toBe(`${created.occurredAt.getTime()}000000`);
    expect(JSON.parse(line)).toEqual({
      seq: 1,
      id: created.id,
      org_id: orgId,
      occurred_at: created.occurredAt.toISOString(),
      actor: { type: 'api_key', id: 'k1' },
      action: 'fleet.created',
      resource: { type: 'fleet', id: 'f1' },
      summary: { resourceId: 'f1' },
      request_id: null,
      source_ip: null,
      prev_hash: created.prevHash,
      hash: created.hash,
    });
    expect(await position(orgId)).toBe('3');
    expect(await sink().shipPending()).toBe(0);
  });

  it('retries with backoff until Loki takes everything, in order, once', async () => {
    const orgA = await api.createOrg();
    const orgB = await api.createOrg();
    for (let i = 0; i < 7; i++) await record(i % 2 === 0 ? orgA : orgB, 'device.updated', `d${i}`);
    loki.failures = [500, 503, 429];
    const running = sink();
    running.start();
    await waitFor(async () => (await position(orgA)) === '4' && (await position(orgB)) === '3', {
      timeoutMs: 10_000,
    });
    expect(shippedOf(orgA)).toEqual([1, 2, 3, 4]);
    expect(shippedOf(orgB)).toEqual([1, 2, 3]);
    expect(loki.failures).toEqual([]);

    // New events are picked up by the running loop, and nothing is sent twice.
    await record(orgB, 'device.deleted');
    await waitFor(async () => (await position(orgB)) === '4', { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(shippedOf(orgB)).toEqual([1, 2, 3, 4]);
  });

  it('resumes after a restart from the stored position', async () => {
    const orgId = await api.createOrg();
    await record(orgId, 'fleet.created');
    const first = sink();
    await first.shipPending();
    await first.stop();

    await record(orgId, 'fleet.updated');
    await record(orgId, 'fleet.updated');
    loki.failures = [502];
    const second = sink();
    second.start();
    await waitFor(async () => (await position(orgId)) === '3', { timeoutMs: 10_000 });
    expect(shippedOf(orgId)).toEqual([1, 2, 3]);
  });

  it('keeps its position when the push fails and skips what Loki refuses for good', async () => {
    const orgId = await api.createOrg();
    await record(orgId, 'fleet.created');
    loki.failures = [500];
    await expect(sink().shipPending()).rejects.toThrow(/Loki answered 500/);
    expect(await position(orgId)).toBeUndefined();

    loki.failures = [400];
    expect(await sink().shipPending()).toBe(1);
    expect(await position(orgId)).toBe('1');
    expect(shippedOf(orgId)).toEqual([]);
  });

  it('sends credentials in the URL as basic auth, under a path prefix', async () => {
    const orgId = await api.createOrg();
    await record(orgId, 'fleet.created');
    const url = new URL(loki.url);
    url.username = 'tenant';
    url.password = 's3cret';
    await sink(url.toString()).shipPending();
    expect(loki.requests.at(-1)!.headers.authorization).toBe(
      `Basic ${Buffer.from('tenant:s3cret').toString('base64')}`,
    );

    await record(orgId, 'fleet.updated');
    await expect(sink(`${loki.url}/behind/a/proxy`).shipPending()).rejects.toThrow(
      /Loki answered 404/,
    );
  });

  it('ships at once when nudged instead of waiting for the next poll', async () => {
    const orgId = await api.createOrg();
    const running = new LokiAuditSink({
      db: api.database.db,
      url: loki.url,
      log,
      pollIntervalMs: 60_000,
    });
    sinks.push(running);
    running.start();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await record(orgId, 'fleet.created');
    running.nudge();
    await waitFor(async () => (await position(orgId)) === '1', { timeoutMs: 2_000 });
  });

  it('stops promptly, even while backing off', async () => {
    const orgId = await api.createOrg();
    await record(orgId, 'fleet.created');
    loki.failures = Array.from({ length: 1000 }, () => 503);
    const running = new LokiAuditSink({
      db: api.database.db,
      url: loki.url,
      log,
      minBackoffMs: 60_000,
    });
    running.start();
    await waitFor(async () => loki.requests.length > 0 && loki.failures.length < 1000, {
      timeoutMs: 5_000,
    });
    const began = Date.now();
    await running.stop();
    expect(Date.now() - began).toBeLessThan(1_000);
  });
});
