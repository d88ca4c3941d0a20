import type { Readable } from 'node:stream';

export interface BlobInfo {
  key: string;
  size: number;
  contentType?: string;
}

export interface PutResult {
  size: number;
  /** Hex SHA-256 of the bytes stored, computed while streaming. */
  sha256: string;
}

/** Large immutable objects: bundles, deltas, build logs. S3 in production, files embedded. */
export interface BlobStore {
  readonly kind: 's3' | 'fs';
  put(key: string, body: Buffer | Readable, options?: { contentType?: string }): Promise<PutResult>;
  /** A stream of the object's bytes, or null when there is no such key. */
  get(key: string): Promise<Readable | null>;
  head(key: string): Promise<BlobInfo | null>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<BlobInfo>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
