import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class DirectoryLockedError extends Error {
  constructor(
    readonly directory: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    const holder = pid === process.pid ? `this process (pid ${pid})` : `process ${pid}`;
    super(
      `${directory} is already open in ${holder}; two processes must never share it. ` +
        `Stop that process or use another data directory; if no such process runs, delete ${lockFile}`,
    );
    this.name = 'DirectoryLockedError';
  }
}

export interface DirectoryLock {
  readonly file: string;
  /** Removes the lock file if it is still ours; harmless when called again. */
  release(): Promise<void>;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return errorCode(error) === 'EPERM';
  }
}

async function readLock(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function tryCreate(file: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx');
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(String(process.pid));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

function holderOf(content: string): number | undefined {
  return /^\d+$/.test(content.trim()) ? Number(content.trim()) : undefined;
}

/**
 * Removes a lock judged stale. Reading and removing are two steps, so a
 * second file makes takeovers take turns: otherwise one process could delete
 * the lock another had just taken over.
 */
async function removeStale(file: string, staleContent: string): Promise<void> {
  const turn = `${file}.takeover`;
  if (!(await tryCreate(turn))) {
    const holder = holderOf((await readLock(turn)) ?? '');
    // A process that died between taking its turn and finishing it never will.
    if (holder !== undefined && !isAlive(holder)) await unlink(turn).catch(() => undefined);
    else if (holder === undefined && (await ageMs(turn)) > 5_000)
      await unlink(turn).catch(() => undefined);
    await sleep(10);
    return;
  }
  try {
    if ((await readLock(file)) === staleContent) await unlink(file);
  } finally {
    await unlink(turn);
  }
}

async function ageMs(file: string): Promise<number> {
  try {
    return Date.now() - (await stat(file)).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Takes `<directory>.lock`, created exclusively and holding our pid, so that
 * two processes never open the same embedded database. A lock whose process
 * is gone is taken over.
 */
export async function acquireDirectoryLock(directory: string): Promise<DirectoryLock> {
  const file = `${directory}.lock`;
  await mkdir(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await tryCreate(file)) return heldLock(file);
    let content = await readLock(file);
    if (content === undefined) continue;
    const holder = holderOf(content);
    if (holder !== undefined && isAlive(holder)) {
      throw new DirectoryLockedError(directory, holder, file);
    }
    if (holder === undefined) {
      // A competitor may be between creating the file and writing its pid.
      await sleep(200);
      const again = await readLock(file);
      if (again !== content) continue;
      content = again;
    }
    await removeStale(file, content);
  }
  throw new Error(`could not lock ${directory}: ${file} keeps changing`);
}

function heldLock(file: string): DirectoryLock {
  let released: Promise<void> | undefined;
  return {
    file,
    release() {
      released ??= (async () => {
        if ((await readLock(file))?.trim() === String(process.pid)) await unlink(file);
      })();
      return released;
    },
  };
}
