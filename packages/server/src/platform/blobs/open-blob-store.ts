import { join } from 'node:path';
import type { Logger } from '../log/create-logger.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';

export interface OpenBlobStoreOptions {
  /** Given: blobs live in this bucket. Absent: under `<dataDir>/blobs`. */
  s3?: S3BlobStoreOptions;
  dataDir: string;
  log: Logger;
}

/** The one place that chooses the blob adapter. */
export async function openBlobStore({
  s3,
  dataDir,
  log,
}: OpenBlobStoreOptions): Promise<BlobStore> {
  if (s3 !== undefined) {
    const store = await S3BlobStore.open(s3);
    log.info(
      { backend: 's3', bucket: s3.bucket, endpoint: s3.endpoint ?? 'aws' },
      `blobs in S3 bucket ${s3.bucket}`,
    );
    return store;
  }
  const directory = join(dataDir, 'blobs');
  const store = await FsBlobStore.open(directory);
  log.info({ backend: 'fs', directory }, `blobs in ${directory}`);
  return store;
}
