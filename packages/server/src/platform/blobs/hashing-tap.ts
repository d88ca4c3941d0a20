import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { PutResult } from './blob-store.js';

/**
 * Passes bytes through unchanged while counting and hashing them, so a
 * stream of unknown length is measured in the same pass that stores it.
 */
export class HashingTap extends Transform {
  // Truly private fields: lib-storage guesses a body's length from any
  // `size` or `length` property, and a public-looking 0 made it expect 0 parts.
  readonly #hash = createHash('sha256');
  #size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    callback(null, chunk);
  }

  /** Call once the stream has ended; the hash cannot be read twice. */
  result(): PutResult {
    return { size: this.#size, sha256: this.#hash.digest('hex') };
  }
}
