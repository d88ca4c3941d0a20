import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryLockedError, acquireDirectoryLock } from './directory-lock.js';

describe('acquireDirectoryLock', () => {
  let parent: string;
  let directory: string;

  beforeEach(async () => {
    parent = await mkdtemp(join(tmpdir(), 'flock-lock-'));
    directory = join(parent, 'data', 'pglite');
  });

  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('writes our pid beside the directory and removes it on release', async () => {
    const lock = await acquireDirectoryLock(directory);
    expect(lock.file).toBe(`${directory}.lock`);
    expect(await readFile(lock.file, 'utf8')).toBe(String(process.pid));
    await lock.release();
    await lock.release();
    await expect(readFile(lock.file, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await acquireDirectoryLock(directory);
    await again.release();
  });

  it('refuses a second holder in this process, naming the directory and pid', async () => {
    const lock = await acquireDirectoryLock(directory);
    const refusal = acquireDirectoryLock(directory);
    await expect(refusal).rejects.toBeInstanceOf(DirectoryLockedError);
    await expect(refusal).rejects.toThrow(
      `${directory} is already open in this process (pid ${process.pid})`,
    );
    await lock.release();
  });

  it('refuses a lock held by another live process', async () => {
    await acquireDirectoryLock(directory).then((lock) => lock.release());
    await writeFile(`${directory}.lock`, String(process.ppid));
    await expect(acquireDirectoryLock(directory)).rejects.toMatchObject({
      name: 'DirectoryLockedError',
      pid: process.ppid,
      message: expect.stringContaining(`${directory} is already open in process ${process.ppid}`),
    });
  });

  it('takes over the lock of a process that is gone', async () => {
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    await acquireDirectoryLock(directory).then((lock) => lock.release());
    await writeFile(`${directory}.lock`, String(pid));
    const lock = await acquireDirectoryLock(directory);
    expect(await readFile(lock.file, 'utf8')).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over a lock file left empty by a crash', async () => {
    await acquireDirectoryLock(directory).then((lock) => lock.release());
    await writeFile(`${directory}.lock`, '');
    const lock = await acquireDirectoryLock(directory);
    expect(await readFile(lock.file, 'utf8')).toBe(String(process.pid));
    await lock.release();
  });

  it('does not remove a lock that is no longer ours', async () => {
    const lock = await acquireDirectoryLock(directory);
    await writeFile(lock.file, String(process.ppid));
    await lock.release();
    expect(await readFile(lock.file, 'utf8')).toBe(String(process.ppid));
  });

  it('lets exactly one of many simultaneous takeovers win', async () => {
    const { pid } = spawnSync(process.execPath, ['-e', '']);
    await acquireDirectoryLock(directory).then((lock) => lock.release());
    await writeFile(`${directory}.lock`, String(pid));
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, () => acquireDirectoryLock(directory)),
    );
    expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.status === 'fulfilled') await attempt.value.release();
      else expect(attempt.reason).toBeInstanceOf(DirectoryLockedError);
    }
  });
});
