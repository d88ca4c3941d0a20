import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, generatedStream, readAll } from './blob-store.contract.js';
import { FsBlobStore } from './fs-blob-store.js';
import { InvalidBlobKeyError } from './validate-blob-key.js';

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(directory, join(entry.parentPath, entry.name)))
    .sort();
}

describe('FsBlobStore', () => {
  let sandbox: string;
  let root: string;
  let store: FsBlobStore;

  beforeEach(async () => {
    sandbox = await mkdtemp(join(tmpdir(), 'flock-fs-blobs-'));
    root = join(sandbox, 'data', 'blobs');
    store = await FsBlobStore.open(root);
  });

  afterEach(async () => {
    await store.close();
    await rm(sandbox, { recursive: true, force: true });
  });

  it('never writes outside its directory, whatever the key', async () => {
    const escapes = [
      '../escape',
      'a/../../escape',
      '/tmp/escape',
      '..',
      '../../../../../../tmp/escape',
      'a/./b',
    ];
    for (const key of escapes) {
      await expect(store.put(key, Buffer.from('x')), key).rejects.toThrow(InvalidBlobKeyError);
    }
    // Odd but valid keys stay inside, as literal names.
    for (const key of ['...', '..a/b', '%2e%2e/escape', 'a/..b', '~/x'])
      await store.put(key, Buffer.from('x'));
    await expect(collect(store.list('../'))).rejects.toThrow(InvalidBlobKeyError);
    const files = await filesUnder(sandbox);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(file.startsWith(join('data', 'blobs', 'objects'))).toBe(true);
    expect(await readdir(join(sandbox, 'data'))).toEqual(['blobs']);
  });

  it('keeps blobs and their content type in readable paths', async () => {
    await store.put('releases/r1/bundle.tar', Buffer.from('tar'), {
      contentType: 'application/x-tar',
    });
    expect(await filesUnder(join(root, 'objects'))).toEqual([
      join('releases.d', 'r1.d', 'bundle.tar.blob'),
      join('releases.d', 'r1.d', 'bundle.tar.meta.json'),
    ]);
    const meta = await readFile(
      join(root, 'objects', 'releases.d', 'r1.d', 'bundle.tar.meta.json'),
      'utf8',
    );
    expect(JSON.parse(meta)).toEqual({ contentType: 'application/x-tar' });
  });

  it('leaves nothing behind when a write fails', async () => {
    const { stream } = generatedStream(1024 * 1024, { failAfter: 256 * 1024 });
    await expect(store.put('deltas/broken', stream)).rejects.toThrow(
      'cannot store blob deltas/broken',
    );
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    expect(await filesUnder(join(root, 'objects'))).toEqual([]);
  });

  it('ignores a write a crash interrupted, and clears it once it is old', async () => {
    const abandoned = join(root, 'tmp', 'abandoned.part');
    const recent = join(root, 'tmp', 'recent.part');
    await writeFile(abandoned, 'half a blob');
    await writeFile(recent, 'another writer, still going');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    await utimes(abandoned, twoDaysAgo, twoDaysAgo);
    expect(await collect(store.list(''))).toEqual([]);
    expect(await store.head('abandoned')).toBeNull();

    const reopened = await FsBlobStore.open(root);
    expect(await readdir(join(root, 'tmp'))).toEqual(['recent.part']);
    await reopened.close();
  });

  it('serves the bytes it started reading even when a put replaces them', async () => {
    await store.put('logs/build-1', Buffer.from('old bytes'));
    const reading = await store.get('logs/build-1');
    await store.put('logs/build-1', Buffer.from('new bytes'));
    expect((await readAll(reading as Readable)).toString()).toBe('old bytes');
    expect((await readAll((await store.get('logs/build-1')) as Readable)).toString()).toBe(
      'new bytes',
    );
  });

  it('removes directories that deleting leaves empty, and only those', async () => {
    await store.put('a/b/c/one', Buffer.from('1'));
    await store.put('a/two', Buffer.from('2'));
    await store.delete('a/b/c/one');
    expect(await readdir(join(root, 'objects', 'a.d'))).toEqual(['two.blob', 'two.meta.json']);
    await store.delete('a/two');
    expect(await readdir(join(root, 'objects'))).toEqual([]);
    await store.ping();
  });

  it('reports a blob whose sidecar a crash lost with the default content type', async () => {
    await store.put('k', Buffer.from('v'), { contentType: 'text/plain' });
    await rm(join(root, 'objects', 'k.meta.json'));
    expect(await store.head('k')).toEqual({
      key: 'k',
      size: 1,
      contentType: 'application/octet-stream',
    });
  });

  it('fails to open where it cannot create its directory', async () => {
    await mkdir(join(sandbox, 'blocked'));
    await writeFile(join(sandbox, 'blocked', 'blobs'), 'a file, not a directory');
    await expect(FsBlobStore.open(join(sandbox, 'blocked', 'blobs'))).rejects.toThrow(
      `cannot open the blob directory ${join(sandbox, 'blocked', 'blobs')}`,
    );
  });
});
