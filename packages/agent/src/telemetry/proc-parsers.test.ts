import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cpuPercent,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseThermal,
} from './proc-parsers.js';
import { TelemetrySampler } from './telemetry-sampler.js';

const stat1 = 'cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n';
const stat2 = 'cpu  200 0 200 1300 100 0 0 0 0 0\n';
const meminfo =
  'MemTotal:        2000000 kB\nMemFree:          500000 kB\nMemAvailable:    1500000 kB\n';
const netdev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999     100    0    0    0     0          0         0   999999     100    0    0    0     0       0          0
  eth0: 1000     10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
 wlan0: 500      5    0    0    0     0          0         0     700       7    0    0    0     0       0          0
`;

describe('proc parsers', () => {
  it('computes CPU use between two /proc/stat samples', () => {
    const a = parseProcStat(stat1)!;
    const b = parseProcStat(stat2)!;
    expect(a).toEqual({ idle: 800, total: 1000 });
    // 800 jiffies passed, 600 idle: 25 % busy.
    expect(cpuPercent(a, b)).toBe(25);
    expect(cpuPercent(a, a)).toBeUndefined();
    expect(parseProcStat('intr 1 2 3')).toBeUndefined();
  });

  it('reads memory, counting reclaimable memory as free', () => {
    expect(parseMeminfo(meminfo)).toEqual({
      usedBytes: 500_000 * 1024,
      totalBytes: 2_000_000 * 1024,
    });
    expect(
      parseMeminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n'),
    ).toEqual({
      usedBytes: 500 * 1024,
      totalBytes: 1000 * 1024,
    });
  });

  it('sums network bytes without loopback', () => {
    expect(parseNetDev(netdev)).toEqual({ rxBytes: 1500, txBytes: 2700 });
  });

  it('reads millidegrees', () => {
    expect(parseThermal('48312\n')).toBe(48.3);
    expect(parseThermal('')).toBeUndefined();
  });
});

describe('TelemetrySampler', () => {
  it('samples fixture roots, CPU from the second sample on', async () => {
    const root = await mkdtemp(join(tmpdir(), 'flockd-proc-'));
    try {
      await mkdir(join(root, 'proc/net'), { recursive: true });
      await mkdir(join(root, 'sys/class/thermal/thermal_zone0'), { recursive: true });
      await mkdir(join(root, 'sys/class/thermal/thermal_zone1'), { recursive: true });
      await writeFile(join(root, 'proc/stat'), stat1);
      await writeFile(join(root, 'proc/meminfo'), meminfo);
      await writeFile(join(root, 'proc/net/dev'), netdev);
      await writeFile(join(root, 'sys/class/thermal/thermal_zone0/temp'), '40000');
      await writeFile(join(root, 'sys/class/thermal/thermal_zone1/temp'), '55500');
      const sampler = new TelemetrySampler({
        dataDir: root,
        procRoot: join(root, 'proc'),
        sysRoot: join(root, 'sys'),
      });
      const first = await sampler.sample();
      expect(first.cpu_percent).toBeUndefined();
      await writeFile(join(root, 'proc/stat'), stat2);
      const second = await sampler.sample();
      expect(second).toMatchObject({
        v: 1,
        cpu_percent: 25,
        memory_used_bytes: 512_000_000,
        network_rx_bytes: 1500,
        network_tx_bytes: 2700,
        temperature_c: 55.5,
      });
      expect(second.disk_total_bytes).toBeGreaterThan(0);
      expect(second.disk_used_bytes).toBeLessThanOrEqual(second.disk_total_bytes!);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('leaves out what the host does not offer', async () => {
    const sampler = new TelemetrySampler({
      dataDir: '/nonexistent',
      procRoot: '/nonexistent',
      sysRoot: '/nonexistent',
    });
    const sample = await sampler.sample();
    expect(Object.keys(sample).sort()).toEqual(['sent_at', 'v']);
  });
});
