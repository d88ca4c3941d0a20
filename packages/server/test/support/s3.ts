import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface TestS3Server {
  /** http://127.0.0.1:<port>; address buckets by path. */
  endpoint: string;
  /** Created empty before the server answers. */
  bucket: string;
  stop(): Promise<void>;
}

/** Credentials s3rver checks signatures against. */
export const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

type CipherFactory = (algorithm: string, key: Buffer, iv: Buffer) => unknown;
let desShimmed = false;

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which
 * OpenSSL 3 keeps in its legacy provider, so every truncated listing fails
 * with a 500 on Node 17 and later. Triple DES with the key repeated three
 * times is the same cipher and is still in the default provider.
 */
function shimSingleDes(): void {
  if (desShimmed) return;
  desShimmed = true;
  const factories = crypto as unknown as Record<
    'createCipheriv' | 'createDecipheriv',
    CipherFactory
  >;
  for (const name of ['createCipheriv', 'createDecipheriv'] as const) {
    const original = factories[name].bind(crypto);
    factories[name] = (algorithm, key, iv) =>
      algorithm === 'des'
        ? original('des-ede3-cbc', Buffer.concat([key, key, key]), iv)
        : original(algorithm, key, iv);
  }
}

/** A real S3-compatible server on a free port, storing in a temporary directory that `stop` removes. */
export async function startS3Server(options: { log?: boolean } = {}): Promise<TestS3Server> {
  shimSingleDes();
  const directory = await mkdtemp(join(tmpdir(), 'flock-s3rver-'));
  const bucket = 'flock-test';
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: options.log !== true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  let port: number;
  try {
    ({ port } = await server.run());
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw new Error('cannot start s3rver', { cause: error });
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      // Clients keep sockets alive; close would otherwise wait for them to time out.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
