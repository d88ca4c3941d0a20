import type { FastifyRequest } from 'fastify';
import { HttpProblem } from './problem.js';

export interface RateLimit {
  /** Shown in the 429 detail: `registrations from this address`. */
  what: string;
  /** Sustained requests per minute per key; bursts up to this many. 0 turns the limit off. */
  perMinute: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** A bucket refills from empty in a minute; one idle that long is full and can be forgotten. */
const refillMs = 60_000;
/** Beyond this many keys the oldest are dropped, so spraying keys cannot exhaust memory. */
const maxKeys = 100_000;

/**
 * A token bucket per key (an IP address, a key prefix, a device id), in this
 * process's memory: with several API replicas each enforces its own share
 * (docs/decisions/0121-rate-limits-per-process.md). Buckets refill
 * continuously, so a client that waits Retry-After seconds gets through.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt: number;

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.sweptAt = now().getTime();
  }

  /**
   * Takes one request from `key`'s bucket; throws a 429 problem with
   * Retry-After when it is empty.
   */
  take(key: string): void {
    if (this.limit.perMinute <= 0) return;
    const now = this.now().getTime();
    this.sweep(now);
    const ratePerMs = this.limit.perMinute / refillMs;
    const bucket = this.buckets.get(key);
    const tokens =
      bucket === undefined
        ? this.limit.perMinute
        : Math.min(this.limit.perMinute, bucket.tokens + (now - bucket.updatedAt) * ratePerMs);
    if (tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000));
      throw new HttpProblem(
        'rate_limited',
        `too many ${this.limit.what}; retry in ${retryAfter} s`,
        undefined,
        { 'retry-after': String(retryAfter) },
      );
    }
    // Re-inserting keeps the map in least-recently-used order for eviction.
    this.buckets.delete(key);
    if (this.buckets.size >= maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done !== true) this.buckets.delete(oldest.value);
    }
    this.buckets.set(key, { tokens: tokens - 1, updatedAt: now });
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < refillMs) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt >= refillMs) this.buckets.delete(key);
    }
  }
}

/**
 * An `onRequest` hook limiting a route per client address, before its body is
 * read. Any route can take one: login-related endpoints should, with their
 * own limiter and setting.
 */
export function limitPerAddress(limiter: RateLimiter): (request: FastifyRequest) => Promise<void> {
  return async (request) => limiter.take(request.ip);
}
