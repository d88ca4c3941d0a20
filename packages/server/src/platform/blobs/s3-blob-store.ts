import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type BlobInfo, type BlobStore, defaultContentType, type PutResult } from './blob-store.js';
import { HashingTap } from './hashing-tap.js';
import { validateBlobKey, validateBlobPrefix } from './validate-blob-key.js';

export interface S3BlobStoreOptions {
  /** Unset means AWS itself. */
  endpoint?: string;
  bucket: string;
  region: string;
  /** Both or neither; unset uses the SDK's default chain (environment, profile, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  /** Keys per ListObjectsV2 page; tests make it small to cross page boundaries. */
  pageSize?: number;
  /** Bytes per multipart part, at least 5 MiB; also the most a stream put buffers per part. */
  partSize?: number;
}

function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata as { httpStatusCode?: number } | undefined;
  return metadata?.httpStatusCode;
}

function bucketProblem(status: number | undefined): string {
  if (status === undefined) return 'cannot be reached';
  if (status === 404) return 'does not exist';
  if (status === 403) return 'refuses these credentials';
  return `answers HTTP ${status}`;
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** Blobs as objects of one S3 bucket; any S3-compatible server (MinIO, Ceph, s3rver) works. */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  private readonly bucket: string;
  private readonly where: string;

  private constructor(
    private readonly client: S3Client,
    private readonly options: S3BlobStoreOptions,
  ) {
    this.bucket = options.bucket;
    this.where = `S3 bucket "${options.bucket}" at ${options.endpoint ?? `AWS ${options.region}`}`;
  }

  /** Opens the client and checks the bucket exists, so a typo fails at start rather than at the first upload. */
  static async open(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
      throw new Error('S3 needs both an access key id and a secret access key, or neither');
    }
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      // The default checksums send streams as aws-chunked bodies, which
      // servers such as s3rver store verbatim: the object silently gets the
      // chunk framing. Checksum only where S3 demands one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
      config.credentials = {
        accessKeyId: options.accessKeyId,
        secretAccessKey: options.secretAccessKey,
      };
    }
    const store = new S3BlobStore(new S3Client(config), options);
    try {
      await store.ping();
    } catch (error) {
      store.client.destroy();
      throw error;
    }
    return store;
  }

  async put(
    key: string,
    body: Buffer | Readable,
    options: { contentType?: string } = {},
  ): Promise<PutResult> {
    validateBlobKey(key);
    const contentType = options.contentType ?? defaultContentType;
    try {
      if (Buffer.isBuffer(body)) return await this.putBuffer(key, body, contentType);
      return await this.putStream(key, body, contentType);
    } catch (error) {
      throw new Error(`cannot store blob ${key} in ${this.where}`, { cause: error });
    }
  }

  async get(key: string): Promise<Readable | null> {
    validateBlobKey(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      if (response.Body instanceof Readable) return response.Body;
      throw new Error('the SDK answered without a Node stream');
    } catch (error) {
      if (nameOf(error) === 'NoSuchKey') return null;
      throw new Error(`cannot read blob ${key} from ${this.where}`, { cause: error });
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    validateBlobKey(key);
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      return {
        key,
        size: response.ContentLength ?? 0,
        contentType: response.ContentType ?? defaultContentType,
      };
    } catch (error) {
      // HEAD answers carry no body, so a missing key is known only by its status.
      if (statusOf(error) === 404) return null;
      throw new Error(`cannot read blob ${key} from ${this.where}`, { cause: error });
    }
  }

  async delete(key: string): Promise<void> {
    validateBlobKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw new Error(`cannot delete blob ${key} from ${this.where}`, { cause: error });
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    validateBlobPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, token);
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw new Error(`${this.where} ${bucketProblem(statusOf(error))}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async listPage(
    prefix: string,
    token: string | undefined,
  ): Promise<ListObjectsV2CommandOutput> {
    const command = new ListObjectsV2Command({
      Bucket: this.bucket,
      Prefix: prefix,
      MaxKeys: this.options.pageSize,
      ContinuationToken: token,
    });
    try {
      return await this.client.send(command);
    } catch (error) {
      throw new Error(`cannot list blobs under ${prefix || '/'} in ${this.where}`, {
        cause: error,
      });
    }
  }

  private async putBuffer(key: string, body: Buffer, contentType: string): Promise<PutResult> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: contentType,
      }),
    );
    return { size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  }

  private async putStream(key: string, body: Readable, contentType: string): Promise<PutResult> {
    const tap = new HashingTap();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: tap, ContentType: contentType },
      ...(this.options.partSize === undefined ? {} : { partSize: this.options.partSize }),
    });
    let uploadError: unknown;
    let stoppedFeeding = false;
    const uploading = upload.done().then(
      () => undefined,
      (error: unknown) => {
        uploadError = error;
        if (tap.destroyed) return;
        // Otherwise nothing reads the tap any more and the source stays paused forever.
        stoppedFeeding = true;
        tap.destroy();
      },
    );
    const feeding = pipeline(body, tap).then(
      () => undefined,
      (error: unknown) => error,
    );
    // Waiting for both means a failed multipart upload is aborted before put returns.
    const [feedError] = await Promise.all([feeding, uploading]);
    // When the source broke first, its error is the cause; the upload's is only the aftermath.
    if (feedError !== undefined && !stoppedFeeding) throw feedError;
    if (uploadError !== undefined) throw uploadError;
    return tap.result();
  }
}
