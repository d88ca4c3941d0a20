import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlobInfo, type BlobStore, defaultContentType } from './blob-store.js';
import { InvalidBlobKeyError } from './validate-blob-key.js';

const MiB = 1024 * 1024;

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export async function collect(blobs: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const all: BlobInfo[] = [];
  for await (const blob of blobs) all.push(blob);
  return all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Random bytes produced on demand, so nothing can learn the length up
 * front; `sent()` is the size and hash of what was actually emitted.
 * With `failAfter` the stream errors once that many bytes are out.
 */
export function generatedStream(size: number, options: { failAfter?: number } = {}) {
  const hash = createHash('sha256');
  let emitted = 0;
  const stream = new Readable({
    read() {
      if (options.failAfter !== undefined && emitted >= options.failAfter) {
        this.destroy(new Error('the source broke'));
        return;
      }
      if (emitted >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, size - emitted));
      hash.update(chunk);
      emitted += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, sent: () => ({ size: emitted, sha256: hash.digest('hex') }) };
}

/** What every BlobStore must do; each test works under its own random prefix so stores may share a backend. */
export function blobStoreContract(name: string, open: () => Promise<BlobStore>): void {
  describe(`${name} satisfies the BlobStore contract`, () => {
    let store: BlobStore;
    let ns: string;

    beforeEach(async () => {
      store = await open();
      ns = randomUUID();
    });

    afterEach(async () => {
      await store.close();
    });

    async function bytesOf(key: string): Promise<Buffer | null> {
      const stream = await store.get(key);
      return stream === null ? null : readAll(stream);
    }

    it('stores a Buffer and reads back the same bytes, size, hash and content type', async () => {
      const body = randomBytes(100_000);
      const result = await store.put(`${ns}/bundle.tar`, body, {
        contentType: 'application/x-tar',
      });
      expect(result).toEqual({ size: body.length, sha256: sha256(body) });
      expect(sha256((await bytesOf(`${ns}/bundle.tar`)) as Buffer)).toBe(sha256(body));
      expect(await store.head(`${ns}/bundle.tar`)).toEqual({
        key: `${ns}/bundle.tar`,
        size: body.length,
        contentType: 'application/x-tar',
      });
    });

    it('stores a 12 MiB stream of unknown length byte for byte', async () => {
      const { stream, sent } = generatedStream(12 * MiB + 12_345);
      const result = await store.put(`${ns}/big.bin`, stream);
      const expected = sent();
      expect(expected.size).toBe(12 * MiB + 12_345);
      expect(result).toEqual(expected);
      const back = (await bytesOf(`${ns}/big.bin`)) as Buffer;
      expect(back.length).toBe(expected.size);
      expect(sha256(back)).toBe(expected.sha256);
      expect(await store.head(`${ns}/big.bin`)).toMatchObject({ size: expected.size });
    });

    it('stores a small stream and an empty one', async () => {
      const small = generatedStream(1000);
      expect(await store.put(`${ns}/small`, small.stream)).toEqual(small.sent());
      const empty = generatedStream(0);
      expect(await store.put(`${ns}/empty`, empty.stream)).toEqual({
        size: 0,
        sha256: sha256(Buffer.alloc(0)),
      });
      expect(await bytesOf(`${ns}/empty`)).toEqual(Buffer.alloc(0));
      expect(await store.head(`${ns}/empty`)).toMatchObject({ size: 0 });
    });

    it('reports the default content type when none was given', async () => {
      await store.put(`${ns}/plain`, Buffer.from('x'));
      expect((await store.head(`${ns}/plain`))?.contentType).toBe(defaultContentType);
    });

    it('answers null for a missing key', async () => {
      expect(await store.get(`${ns}/missing`)).toBeNull();
      expect(await store.head(`${ns}/missing`)).toBeNull();
    });

    it('deletes, and deleting a missing key is fine', async () => {
      await store.put(`${ns}/doomed`, Buffer.from('bye'));
      await store.delete(`${ns}/doomed`);
      expect(await store.head(`${ns}/doomed`)).toBeNull();
      expect(await store.get(`${ns}/doomed`)).toBeNull();
      await expect(store.delete(`${ns}/doomed`)).resolves.toBeUndefined();
      await expect(store.delete(`${ns}/never/was`)).resolves.toBeUndefined();
    });

    it('replaces the bytes and content type on overwrite', async () => {
      await store.put(`${ns}/log`, Buffer.from('first version, longer'), {
        contentType: 'text/plain',
      });
      await store.put(`${ns}/log`, Buffer.from('second'), { contentType: 'application/json' });
      expect((await bytesOf(`${ns}/log`))?.toString()).toBe('second');
      expect(await store.head(`${ns}/log`)).toEqual({
        key: `${ns}/log`,
        size: 6,
        contentType: 'application/json',
      });
      const { stream, sent } = generatedStream(70_000);
      await store.put(`${ns}/log`, stream);
      expect(sha256((await bytesOf(`${ns}/log`)) as Buffer)).toBe(sent().sha256);
      expect((await store.head(`${ns}/log`))?.contentType).toBe(defaultContentType);
    });

    it('keeps the previous blob when a stream put fails', async () => {
      await store.put(`${ns}/release`, Buffer.from('good'));
      const { stream } = generatedStream(8 * MiB, { failAfter: 6 * MiB });
      const failure = await store.put(`${ns}/release`, stream).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toContain(`${ns}/release`);
      expect((failure as Error).cause).toMatchObject({ message: 'the source broke' });
      expect((await bytesOf(`${ns}/release`))?.toString()).toBe('good');
      const fresh = generatedStream(100, { failAfter: 50 });
      await expect(store.put(`${ns}/fresh`, fresh.stream)).rejects.toThrow();
      expect(await store.head(`${ns}/fresh`)).toBeNull();
    });

    it('lists by plain-text prefix', async () => {
      const keys = ['a/1', 'a/2/deep', 'ab', 'abc', 'b/1'].map((key) => `${ns}/${key}`);
      for (const [index, key] of keys.entries()) await store.put(key, Buffer.alloc(index + 1));
      const listed = async (prefix: string) =>
        (await collect(store.list(prefix))).map((blob) => blob.key);
      expect(await listed(`${ns}/`)).toEqual(keys);
      expect(await listed(`${ns}/a`)).toEqual([
        `${ns}/a/1`,
        `${ns}/a/2/deep`,
        `${ns}/ab`,
        `${ns}/abc`,
      ]);
      expect(await listed(`${ns}/a/`)).toEqual([`${ns}/a/1`, `${ns}/a/2/deep`]);
      expect(await listed(`${ns}/ab`)).toEqual([`${ns}/ab`, `${ns}/abc`]);
      expect(await listed(`${ns}/b/1`)).toEqual([`${ns}/b/1`]);
      expect(await listed(`${ns}/c`)).toEqual([]);
      expect(await collect(store.list(`${ns}/a/`))).toEqual([
        { key: `${ns}/a/1`, size: 1 },
        { key: `${ns}/a/2/deep`, size: 2 },
      ]);
    });

    it('lets a key also be the directory of other keys', async () => {
      await store.put(`${ns}/x`, Buffer.from('file'));
      await store.put(`${ns}/x/y`, Buffer.from('below'));
      expect((await bytesOf(`${ns}/x`))?.toString()).toBe('file');
      expect((await bytesOf(`${ns}/x/y`))?.toString()).toBe('below');
      // Two keys stay within one page: s3rver walks its directories out of
      // key order and drops such a key at a page boundary (S3 does not).
      expect((await collect(store.list(`${ns}/x`))).map((blob) => blob.key)).toEqual([
        `${ns}/x`,
        `${ns}/x/y`,
      ]);
      await store.delete(`${ns}/x/y`);
      expect((await bytesOf(`${ns}/x`))?.toString()).toBe('file');
      await store.put(`${ns}/x/y`, Buffer.from('again'));
      await store.delete(`${ns}/x`);
      expect((await bytesOf(`${ns}/x/y`))?.toString()).toBe('again');
    });

    it('lists more blobs than fit in one page', async () => {
      const keys = Array.from({ length: 7 }, (_, index) => `${ns}/many/${index}`);
      await Promise.all(keys.map((key) => store.put(key, Buffer.from(key))));
      expect((await collect(store.list(`${ns}/many/`))).map((blob) => blob.key)).toEqual(keys);
    });

    it('keeps keys with spaces and non-ASCII characters exact', async () => {
      const key = `${ns}/logs/build 7/ünïcødé + [x].log`;
      await store.put(key, Buffer.from('log'));
      expect((await bytesOf(key))?.toString()).toBe('log');
      expect((await collect(store.list(`${ns}/logs/`))).map((blob) => blob.key)).toEqual([key]);
    });

    it('rejects invalid keys with a clear error', async () => {
      const invalid = [
        '',
        '/abs',
        'a/../b',
        '..',
        'a//b',
        'a/',
        './a',
        'a\\b',
        'a\u0000b',
        'x'.repeat(1025),
      ];
      for (const key of invalid) {
        await expect(store.put(key, Buffer.from('x')), key).rejects.toThrow(InvalidBlobKeyError);
        await expect(store.get(key), key).rejects.toThrow(InvalidBlobKeyError);
        await expect(store.head(key), key).rejects.toThrow(InvalidBlobKeyError);
        await expect(store.delete(key), key).rejects.toThrow(InvalidBlobKeyError);
      }
      await expect(store.put('a/../b', Buffer.from('x'))).rejects.toThrow(
        'invalid blob key "a/../b": must not have . or .. segments',
      );
      await expect(collect(store.list('../'))).rejects.toThrow(InvalidBlobKeyError);
      await expect(collect(store.list('/'))).rejects.toThrow(InvalidBlobKeyError);
    });

    it('handles concurrent puts to different keys', async () => {
      const writes = Array.from({ length: 10 }, (_, index) => {
        const key = `${ns}/parallel/${index}`;
        if (index % 2 === 0) {
          const body = randomBytes(200_000 + index);
          return store.put(key, body).then(() => ({ key, sha256: sha256(body) }));
        }
        const { stream, sent } = generatedStream(300_000 + index);
        return store.put(key, stream).then(() => ({ key, sha256: sent().sha256 }));
      });
      for (const { key, sha256: expected } of await Promise.all(writes)) {
        expect(sha256((await bytesOf(key)) as Buffer), key).toBe(expected);
      }
    });

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
