import type { RegisterDeviceRequest, RegisterDeviceResponse } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { ApiError, type DeviceApi } from '../identity/api-client.js';
import { PacedDeviceApi } from './paced-device-api.js';
import { percentiles } from './simulation-report.js';

const body = { uuid: 'u' } as RegisterDeviceRequest;
const answer = { device_id: 'd' } as RegisterDeviceResponse;

describe('PacedDeviceApi', () => {
  it('keeps at most `concurrency` requests in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const inner: DeviceApi = {
      register: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        return answer;
      },
      token: () => Promise.reject(new Error('unused')),
    };
    const api = new PacedDeviceApi(inner, { concurrency: 3, jitterMs: 0, random: () => 0 });
    const signal = new AbortController().signal;
    await Promise.all(Array.from({ length: 10 }, () => api.register(body, signal)));
    expect(most).toBe(3);
  });

  it('waits out a 429 for its Retry-After, then retries', async () => {
    const calls: number[] = [];
    const inner: DeviceApi = {
      register: async () => {
        calls.push(performance.now());
        if (calls.length === 1) throw new ApiError(429, 'too many registrations', 120);
        return answer;
      },
      token: () => Promise.reject(new Error('unused')),
    };
    const api = new PacedDeviceApi(inner, { concurrency: 1, jitterMs: 0, random: () => 0 });
    await expect(api.register(body, new AbortController().signal)).resolves.toBe(answer);
    expect(api.rateLimited).toBe(1);
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(110);
  });

  it('passes other errors on, for the agent to retry or give up', async () => {
    const inner: DeviceApi = {
      register: () => Promise.reject(new ApiError(401, 'unknown provisioning key')),
      token: () => Promise.reject(new Error('unused')),
    };
    const api = new PacedDeviceApi(inner, { concurrency: 1, jitterMs: 0, random: () => 0 });
    await expect(api.register(body, new AbortController().signal)).rejects.toMatchObject({
      status: 401,
    });
    expect(api.rateLimited).toBe(0);
  });
});

describe('percentiles', () => {
  it('uses nearest rank and reports none for no samples', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(values)).toEqual({ count: 100, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(percentiles([])).toEqual({ count: 0, p50: null, p90: null, p99: null, max: null });
  });
});
