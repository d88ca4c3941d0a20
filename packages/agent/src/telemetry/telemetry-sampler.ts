import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { TelemetryMessage } from '@flock/protocol';
import {
  type CpuTimes,
  cpuPercent,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseThermal,
} from './proc-parsers.js';

export interface TelemetrySamplerOptions {
  /** Whose disk usage is reported: the filesystem holding the data directory. */
  dataDir: string;
  /** Roots, replaceable so tests read fixtures. */
  procRoot?: string;
  sysRoot?: string;
}

/**
 * Samples the host's resources. CPU use is the change since the previous
 * sample, so the first sample has none. Anything the host does not offer
 * (no thermal zone, no /proc on a developer's Mac) is left out, not guessed.
 */
export class TelemetrySampler {
  readonly #options: TelemetrySamplerOptions;
  #lastCpu: CpuTimes | undefined;

  constructor(options: TelemetrySamplerOptions) {
    this.#options = options;
  }

  async sample(): Promise<TelemetryMessage> {
    const proc = this.#options.procRoot ?? '/proc';
    const [stat, meminfo, netdev, disk, temperature] = await Promise.all([
      readText(join(proc, 'stat')),
      readText(join(proc, 'meminfo')),
      readText(join(proc, 'net/dev')),
      statfs(this.#options.dataDir).catch(() => undefined),
      this.#temperature(),
    ]);
    const message: TelemetryMessage = { v: 1, sent_at: new Date().toISOString() };
    const cpu = stat === undefined ? undefined : parseProcStat(stat);
    if (cpu !== undefined) {
      const percent = this.#lastCpu === undefined ? undefined : cpuPercent(this.#lastCpu, cpu);
      if (percent !== undefined) message.cpu_percent = percent;
      this.#lastCpu = cpu;
    }
    const memory = meminfo === undefined ? undefined : parseMeminfo(meminfo);
    if (memory !== undefined) {
      message.memory_used_bytes = memory.usedBytes;
      message.memory_total_bytes = memory.totalBytes;
    }
    if (disk !== undefined) {
      message.disk_total_bytes = disk.blocks * disk.bsize;
      message.disk_used_bytes = (disk.blocks - disk.bfree) * disk.bsize;
    }
    const network = netdev === undefined ? undefined : parseNetDev(netdev);
    if (network !== undefined) {
      message.network_rx_bytes = network.rxBytes;
      message.network_tx_bytes = network.txBytes;
    }
    if (temperature !== undefined) message.temperature_c = temperature;
    return message;
  }

  /** The hottest thermal zone, as the one that throttles first. */
  async #temperature(): Promise<number | undefined> {
    const thermal = join(this.#options.sysRoot ?? '/sys', 'class/thermal');
    const zones = await readdir(thermal).catch(() => [] as string[]);
    let hottest: number | undefined;
    for (const zone of zones.filter((z) => z.startsWith('thermal_zone'))) {
      const text = await readText(join(thermal, zone, 'temp'));
      const value = text === undefined ? undefined : parseThermal(text);
      if (value !== undefined && (hottest === undefined || value > hottest)) hottest = value;
    }
    return hottest;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
