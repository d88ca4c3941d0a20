import type { ModuleDefinition } from '../../app/module.js';
import type { BlobStore } from './blob-store.js';
import { openBlobStore } from './open-blob-store.js';

/** S3 when a bucket is configured (loadConfig insists on one with an endpoint), else the data directory. */
export const blobsModule: ModuleDefinition<BlobStore, Record<string, never>> = {
  async init({ config, log }) {
    const store = await openBlobStore({
      dataDir: config.dataDir,
      log,
      ...(config.s3Bucket === undefined
        ? {}
        : {
            s3: {
              endpoint: config.s3Endpoint,
              bucket: config.s3Bucket,
              region: config.s3Region,
              accessKeyId: config.s3AccessKeyId,
              secretAccessKey: config.s3SecretAccessKey,
              forcePathStyle: config.s3ForcePathStyle,
            },
          }),
    });
    return {
      exports: store,
      ready: () => store.ping(),
      stop: () => store.close(),
    };
  },
};
