import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3rverCredentials, startS3Server, type TestS3Server } from '../../../test/support/s3.js';
import { blobStoreContract } from './blob-store.contract.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('filesystem', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'flock-blobs-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  blobStoreContract('FsBlobStore', () => FsBlobStore.open(join(root, 'blobs')));
});

describe('S3 on s3rver', () => {
  let server: TestS3Server;
  const options = (overrides: Partial<S3BlobStoreOptions> = {}): S3BlobStoreOptions => ({
    endpoint: server.endpoint,
    bucket: server.bucket,
    region: 'us-east-1',
    ...s3rverCredentials,
    forcePathStyle: true,
    ...overrides,
  });

  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Two keys a page, so every listing with more than two blobs follows continuation tokens.
  blobStoreContract('S3BlobStore', () => S3BlobStore.open(options({ pageSize: 2 })));

  it('refuses to open a bucket that does not exist, naming it and the endpoint', async () => {
    const opening = S3BlobStore.open(options({ bucket: 'no-such-bucket' }));
    await expect(opening).rejects.toThrow(
      `S3 bucket "no-such-bucket" at ${server.endpoint} does not exist`,
    );
  });

  it('says when it cannot reach the endpoint at all', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    await expect(S3BlobStore.open(options({ endpoint }))).rejects.toThrow(
      `S3 bucket "${server.bucket}" at ${endpoint} cannot be reached`,
    );
  });

  it('refuses half a credential pair', async () => {
    await expect(S3BlobStore.open(options({ secretAccessKey: undefined }))).rejects.toThrow(
      'S3 needs both an access key id and a secret access key, or neither',
    );
  });
});
