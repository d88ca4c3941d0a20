import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3rverCredentials, startS3Server, type TestS3Server } from '../../../test/support/s3.js';
import type { ModuleContext } from '../../app/module.js';
import { type Config, settings } from '../config/settings.js';
import { blobsModule } from './blobs-module.js';

const defaults = Object.fromEntries(
  Object.entries(settings).map(([key, setting]) => [key, setting.default]),
);

function contextWith(overrides: Partial<Config>): { context: ModuleContext; logs: () => string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
      done();
    },
  });
  const context: ModuleContext = {
    config: { ...defaults, ...overrides } as Config,
    log: pino({ level: 'info' }, sink),
    metrics: new Registry(),
    readiness: async () => ({ ready: true, checks: [] }),
    fail: () => undefined,
  };
  return { context, logs: () => lines };
}

describe('blobsModule', () => {
  let dataDir: string;
  let server: TestS3Server;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flock-blobs-module-'));
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps blobs in the data directory when no bucket is set', async () => {
    const { context, logs } = contextWith({ dataDir });
    const running = await blobsModule.init(context, {});
    expect(running.exports.kind).toBe('fs');
    await running.ready?.();
    expect(logs()).toEqual([`blobs in ${join(dataDir, 'blobs')}`]);
    await running.stop?.();
  });

  it('uses the S3 bucket when one is set', async () => {
    const { context, logs } = contextWith({
      dataDir,
      s3Endpoint: server.endpoint,
      s3Bucket: server.bucket,
      s3AccessKeyId: s3rverCredentials.accessKeyId,
      s3SecretAccessKey: s3rverCredentials.secretAccessKey,
    });
    const running = await blobsModule.init(context, {});
    expect(running.exports.kind).toBe('s3');
    await running.exports.put('hello', Buffer.from('world'));
    await running.ready?.();
    expect(logs()).toEqual([`blobs in S3 bucket ${server.bucket}`]);
    await running.stop?.();
  });

  it('fails to start on a bucket that does not exist', async () => {
    const { context } = contextWith({
      dataDir,
      s3Endpoint: server.endpoint,
      s3Bucket: 'missing-bucket',
      s3AccessKeyId: s3rverCredentials.accessKeyId,
      s3SecretAccessKey: s3rverCredentials.secretAccessKey,
    });
    await expect(blobsModule.init(context, {})).rejects.toThrow(
      `S3 bucket "missing-bucket" at ${server.endpoint} does not exist`,
    );
  });
});
