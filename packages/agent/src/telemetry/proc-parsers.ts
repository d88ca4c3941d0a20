/** Pure readers of /proc and /sys text, so they are tested without a Linux box. */

export interface CpuTimes {
  /** Jiffies spent idle (idle + iowait). */
  idle: number;
  total: number;
}

/** The aggregate `cpu` line of /proc/stat. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f))) return undefined;
  // guest and guest_nice are already counted in user and nice.
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { idle, total };
}

/** Busy share between two samples, 0..100; undefined when no time passed. */
export function cpuPercent(before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.total - before.total;
  if (total <= 0) return undefined;
  const busy = total - (after.idle - before.idle);
  return Math.min(100, Math.max(0, Math.round((busy / total) * 1000) / 10));
}

/** Used and total memory from /proc/meminfo; "used" excludes what the kernel can reclaim. */
export function parseMeminfo(text: string): { usedBytes: number; totalBytes: number } | undefined {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]) * 1024);
  }
  const total = values.get('MemTotal');
  if (total === undefined) return undefined;
  const available =
    values.get('MemAvailable') ??
    (values.get('MemFree') ?? 0) + (values.get('Buffers') ?? 0) + (values.get('Cached') ?? 0);
  return { usedBytes: Math.max(0, total - available), totalBytes: total };
}

/** Received and sent bytes over every interface but loopback, from /proc/net/dev. */
export function parseNetDev(text: string): { rxBytes: number; txBytes: number } | undefined {
  let rxBytes = 0;
  let txBytes = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const match = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!match || match[1] === 'lo') continue;
    const fields = match[2]!.trim().split(/\s+/).map(Number);
    if (fields.length < 9) continue;
    rxBytes += fields[0]!;
    txBytes += fields[8]!;
    seen = true;
  }
  return seen ? { rxBytes, txBytes } : undefined;
}

/** A thermal zone's `temp` file holds millidegrees Celsius. */
export function parseThermal(text: string): number | undefined {
  const value = Number(text.trim());
  if (!Number.isFinite(value) || text.trim() === '') return undefined;
  const celsius = Math.round(value / 100) / 10;
  return celsius >= -100 && celsius <= 200 ? celsius : undefined;
}
