import { describe, expect, it } from 'vitest';
import { deviceAttributeProblems, deviceUpdateProblems } from './device-update-problems.js';

describe('deviceUpdateProblems', () => {
  it('accepts a valid update and names each bad label by its escaped key', () => {
    expect(
      deviceUpdateProblems({ labels: { env: 'prod', 'example.com/zone': '' } }, '/body'),
    ).toEqual([]);
    const problems = deviceUpdateProblems(
      { labels: { 'a/b/c': 'x', '~': 'y', ok: 'not ok' } },
      '/body',
    );
    expect(problems.map((problem) => problem.field)).toEqual([
      '/body/labels/a~1b~1c',
      '/body/labels/~0',
      '/body/labels/ok',
    ]);
  });

  it('bounds attributes by size, depth and storable text', () => {
    expect(deviceAttributeProblems({ a: [1, { b: 'c' }], n: null }, '/a')).toEqual([]);
    expect(deviceAttributeProblems({ big: 'x'.repeat(20_000) }, '/a')).toEqual([
      { field: '/a', message: expect.stringContaining('at most 16384') },
    ]);
    expect(deviceAttributeProblems({ 'k/\u0000': 1 }, '/a')[0]?.field).toBe('/a/k~1\u0000');
    expect(deviceAttributeProblems({ s: ['ok', 'half \ud83d'] }, '/a')[0]?.field).toBe('/a/s/1');
    expect(deviceAttributeProblems({ pair: 'whole \ud83d\ude00' }, '/a')).toEqual([]);
  });

  it('stops at the depth bound instead of walking a deep value', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i += 1) deep = [deep];
    expect(deviceAttributeProblems({ deep }, '/a')).toEqual([
      { field: '/a', message: 'nests objects and arrays more than 8 levels deep' },
    ]);
    let eight: unknown = 1;
    for (let i = 0; i < 8; i += 1) eight = [eight];
    expect(deviceAttributeProblems({ eight }, '/a')).toEqual([]);
  });
});
