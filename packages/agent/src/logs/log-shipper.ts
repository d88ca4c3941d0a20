import type { LogLine, LogsMessage } from '@flock/protocol';
import type { Logger } from 'pino';
import {
  type ContainerInfo,
  type ContainerRuntime,
  serviceLabel,
} from '../runtime/container-runtime.js';
import { errorMessage } from '../support/error-message.js';

export interface LogShipperOptions {
  runtime: ContainerRuntime;
  log: Logger;
  publish: (message: LogsMessage) => Promise<void>;
  /** A batch goes out this long after its first line at the latest. */
  batchMs: number;
  maxLines?: number;
  maxBytes?: number;
  now?: () => number;
}

interface Follower {
  controller: AbortController;
  /** The newest line's time, so a follower started again does not repeat what was sent. */
  since: string;
  /** A follower started again skips lines at exactly `since` too: they were shipped. */
  resumed: boolean;
}

const maxMessageChars = 16_384;
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Follows the logs of every running managed container and ships them in
 * batches (by count, size and time) on `devices/{id}/logs`. Lines printed
 * while the agent was not running are not shipped: a container first seen
 * is followed from that moment.
 */
export class LogShipper {
  readonly #options: LogShipperOptions;
  readonly #followers = new Map<string, Follower>();
  #batch: LogLine[] = [];
  #batchBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: LogShipperOptions) {
    this.#options = options;
  }

  /** Starts following new running containers and forgets removed ones. */
  track(containers: readonly ContainerInfo[]): void {
    if (this.#closed) return;
    const present = new Set(containers.map((c) => c.id));
    for (const [id, follower] of this.#followers) {
      if (!present.has(id)) {
        follower.controller.abort();
        this.#followers.delete(id);
      }
    }
    for (const container of containers) {
      if (container.state !== 'running') continue;
      const existing = this.#followers.get(container.id);
      if (existing !== undefined && !existing.controller.signal.aborted) continue;
      const follower: Follower = {
        controller: new AbortController(),
        since: existing?.since ?? new Date(this.#now()).toISOString(),
        resumed: existing !== undefined,
      };
      this.#followers.set(container.id, follower);
      void this.#follow(container, follower);
    }
  }

  /** Stops following and sends what is batched. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const follower of this.#followers.values()) follower.controller.abort();
    this.#followers.clear();
    await this.#flush();
  }

  async #follow(container: ContainerInfo, follower: Follower): Promise<void> {
    const service = container.labels[serviceLabel] ?? null;
    const { signal } = follower.controller;
    try {
      const from = follower.since;
      for await (const entry of this.#options.runtime.logs(container.id, {
        since: from,
        follow: true,
        signal,
      })) {
        if (entry.timestamp < from || (follower.resumed && entry.timestamp === from)) continue;
        follower.since = entry.timestamp;
        this.#add({
          service,
          timestamp: isoTime.test(entry.timestamp)
            ? entry.timestamp
            : new Date(this.#now()).toISOString(),
          stream: entry.stream,
          message: entry.message.slice(0, maxMessageChars),
        });
      }
    } catch (error) {
      if (!signal.aborted) {
        this.#options.log.debug(
          { containerId: container.id, err: errorMessage(error) },
          'log follow ended',
        );
      }
    } finally {
      // The stream ends when the container stops; the next observation
      // starts a new follower if it runs again.
      follower.controller.abort();
    }
  }

  #add(line: LogLine): void {
    this.#batch.push(line);
    this.#batchBytes += line.message.length + 64;
    if (
      this.#batch.length >= (this.#options.maxLines ?? 500) ||
      this.#batchBytes >= (this.#options.maxBytes ?? 128 * 1024)
    ) {
      void this.#flush();
    } else {
      this.#timer ??= setTimeout(() => void this.#flush(), this.#options.batchMs);
    }
  }

  async #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const lines = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    try {
      await this.#options.publish({ v: 1, lines });
    } catch (error) {
      this.#options.log.warn(
        { err: errorMessage(error), lines: lines.length },
        'cannot queue container logs',
      );
    }
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}
