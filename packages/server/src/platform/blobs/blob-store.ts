import type { Readable } from 'node:stream';

/** What `head` reports for a blob stored without a content type. */
export const defaultContentType = 'application/octet-stream';

export interface BlobInfo {
  key: string;
  size: number;
  /** Set by `head`; `list` leaves it out, as S3 listings do not carry it. */
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
  /** Every blob whose key starts with `prefix` (plain text, not segments), in no particular order. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
