import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type BlobInfo, type BlobStore, defaultContentType, type PutResult } from './blob-store.js';
import { HashingTap } from './hashing-tap.js';
import { validateBlobKey, validateBlobPrefix } from './validate-blob-key.js';

// S3 lets 'a' and 'a/b' both be keys, but a path cannot be a file and a
// directory at once. Suffixing directories, blobs and sidecars differently
// keeps their names disjoint, so every valid key has a place on disk.
const directorySuffix = '.d';
const blobSuffix = '.blob';
const metaSuffix = '.meta.json';

// Temporary files survive only a crash; anything older is surely abandoned.
const staleTemporaryMs = 24 * 60 * 60 * 1000;

interface BlobMeta {
  contentType: string;
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return error instanceof Error && 'code' in error && codes.includes(String(error.code));
}

/**
 * Blobs as files under one directory: `objects/` holds them, `tmp/` holds
 * writes in progress. A write lands in `tmp/` and is renamed into place, so
 * a crash never leaves a partial blob under its key.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  private readonly objects: string;
  private readonly temporary: string;

  private constructor(readonly root: string) {
    this.objects = join(root, 'objects');
    this.temporary = join(root, 'tmp');
  }

  static async open(root: string): Promise<FsBlobStore> {
    const store = new FsBlobStore(root);
    try {
      await mkdir(store.objects, { recursive: true });
      await mkdir(store.temporary, { recursive: true });
      await store.removeStaleTemporaries();
    } catch (error) {
      throw new Error(`cannot open the blob directory ${root}`, { cause: error });
    }
    return store;
  }

  async put(
    key: string,
    body: Buffer | Readable,
    options: { contentType?: string } = {},
  ): Promise<PutResult> {
    const paths = this.pathsOf(validateBlobKey(key));
    const blobTemporary = this.temporaryPath();
    const metaTemporary = this.temporaryPath();
    const tap = new HashingTap();
    try {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      // flush: without it a power loss after the rename can leave an empty file under the key.
      await pipeline(source, tap, createWriteStream(blobTemporary, { flags: 'wx', flush: true }));
      const meta: BlobMeta = { contentType: options.contentType ?? defaultContentType };
      await writeFile(metaTemporary, JSON.stringify(meta), { flag: 'wx' });
      // Blob first: a crash between the renames keeps the new bytes with the old content type.
      await this.moveIntoPlace(blobTemporary, paths.blob);
      await this.moveIntoPlace(metaTemporary, paths.meta);
    } catch (error) {
      await Promise.all([rm(blobTemporary, { force: true }), rm(metaTemporary, { force: true })]);
      throw new Error(`cannot store blob ${key}`, { cause: error });
    }
    return tap.result();
  }

  async get(key: string): Promise<Readable | null> {
    const paths = this.pathsOf(validateBlobKey(key));
    try {
      // Reading from an open handle keeps serving the old bytes if a put replaces the file meanwhile.
      const handle = await open(paths.blob, 'r');
      return handle.createReadStream();
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return null;
      throw new Error(`cannot read blob ${key}`, { cause: error });
    }
  }

  async head(key: string): Promise<BlobInfo | null> {
    const paths = this.pathsOf(validateBlobKey(key));
    try {
      const stats = await stat(paths.blob);
      return { key, size: stats.size, contentType: await this.readContentType(paths.meta) };
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return null;
      throw new Error(`cannot read blob ${key}`, { cause: error });
    }
  }

  async delete(key: string): Promise<void> {
    const paths = this.pathsOf(validateBlobKey(key));
    try {
      await rm(paths.blob, { force: true });
      await rm(paths.meta, { force: true });
      await this.pruneEmptyDirectories(paths.directory);
    } catch (error) {
      throw new Error(`cannot delete blob ${key}`, { cause: error });
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    validateBlobPrefix(prefix);
    const directories = prefix.split('/').slice(0, -1);
    const start = join(this.objects, ...directories.map((name) => name + directorySuffix));
    const startKey = directories.map((name) => `${name}/`).join('');
    yield* this.walk(start, startKey, prefix);
  }

  async ping(): Promise<void> {
    const stats = await stat(this.objects);
    if (!stats.isDirectory()) throw new Error(`${this.objects} is not a directory`);
  }

  async close(): Promise<void> {}

  private async *walk(
    directory: string,
    keyPrefix: string,
    prefix: string,
  ): AsyncGenerator<BlobInfo> {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      if (isCode(error, 'ENOENT', 'ENOTDIR')) return;
      throw new Error(`cannot list blobs under ${keyPrefix || '/'}`, { cause: error });
    }
    for (const name of names.sort()) {
      if (name.endsWith(directorySuffix)) {
        const childPrefix = `${keyPrefix}${name.slice(0, -directorySuffix.length)}/`;
        if (childPrefix.startsWith(prefix) || prefix.startsWith(childPrefix)) {
          yield* this.walk(join(directory, name), childPrefix, prefix);
        }
      } else if (name.endsWith(blobSuffix)) {
        const key = keyPrefix + name.slice(0, -blobSuffix.length);
        if (!key.startsWith(prefix)) continue;
        const size = await this.sizeOf(join(directory, name));
        if (size !== null) yield { key, size };
      }
    }
  }

  private async sizeOf(path: string): Promise<number | null> {
    try {
      return (await stat(path)).size;
    } catch (error) {
      // Deleted while we listed: it is simply not there any more.
      if (isCode(error, 'ENOENT')) return null;
      throw error;
    }
  }

  private async readContentType(metaPath: string): Promise<string> {
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as Partial<BlobMeta>;
      return typeof meta.contentType === 'string' ? meta.contentType : defaultContentType;
    } catch (error) {
      // A crash between the two renames of a first put leaves the blob without its sidecar.
      if (isCode(error, 'ENOENT')) return defaultContentType;
      throw error;
    }
  }

  private pathsOf(key: string): { directory: string; blob: string; meta: string } {
    const segments = key.split('/');
    const name = segments.pop() as string;
    const directory = join(this.objects, ...segments.map((segment) => segment + directorySuffix));
    const blob = join(directory, name + blobSuffix);
    // Validation already rules out escaping; this guards against a future change to it.
    if (relative(this.objects, blob).startsWith(`..${sep}`)) {
      throw new Error(`blob key ${key} resolves outside ${this.objects}`);
    }
    return { directory, blob, meta: join(directory, name + metaSuffix) };
  }

  private temporaryPath(): string {
    return join(this.temporary, `${randomUUID()}.part`);
  }

  private async moveIntoPlace(from: string, to: string): Promise<void> {
    const directory = join(to, '..');
    // A concurrent delete may prune the directory between mkdir and rename.
    for (let attempt = 1; ; attempt += 1) {
      await mkdir(directory, { recursive: true });
      try {
        await rename(from, to);
        return;
      } catch (error) {
        if (!isCode(error, 'ENOENT') || attempt === 5) throw error;
      }
    }
  }

  private async pruneEmptyDirectories(directory: string): Promise<void> {
    let current = directory;
    while (current !== this.objects && current.startsWith(this.objects + sep)) {
      try {
        await rmdir(current);
      } catch (error) {
        if (isCode(error, 'ENOTEMPTY', 'EEXIST', 'ENOENT')) return;
        throw error;
      }
      current = join(current, '..');
    }
  }

  private async removeStaleTemporaries(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.temporary)) {
      const path = join(this.temporary, name);
      const stats = await stat(path).catch(() => null);
      if (stats !== null && now - stats.mtimeMs > staleTemporaryMs) await rm(path, { force: true });
    }
  }
}
