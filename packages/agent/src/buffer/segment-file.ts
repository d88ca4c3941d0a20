import { type FileHandle, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export const outboxChannels = ['state', 'events', 'logs', 'telemetry'] as const;
export type OutboxChannel = (typeof outboxChannels)[number];

/** Where one record's payload lies in its segment, kept in memory instead of the payload. */
export interface RecordRef {
  seq: number;
  channel: OutboxChannel;
  segment: SegmentFile;
  /** Byte offset and length of the payload inside the segment file. */
  offset: number;
  length: number;
  acked: boolean;
}

const linePrefix = (seq: number, channel: OutboxChannel) => `{"s":${seq},"c":"${channel}","m":`;
const lineSuffix = '}\n';

/**
 * One file of the outbox: JSON lines `{"s":seq,"c":channel,"m":payload}`,
 * appended to, read back by offset, rewritten whole when records are dropped.
 * The payload is embedded as JSON, not as an escaped string, so it can be
 * read back byte for byte without parsing.
 */
export class SegmentFile {
  readonly records: RecordRef[] = [];
  #size = 0;
  #handle: FileHandle | undefined;
  #dirty = false;

  private constructor(readonly path: string) {}

  static fileName(firstSeq: number): string {
    return `segment-${String(firstSeq).padStart(16, '0')}.jsonl`;
  }

  static async create(dir: string, firstSeq: number): Promise<SegmentFile> {
    const segment = new SegmentFile(join(dir, SegmentFile.fileName(firstSeq)));
    segment.#handle = await open(segment.path, 'a+', 0o600);
    return segment;
  }

  /** Reads a segment written earlier; a torn last line (power cut mid-write) is skipped. */
  static async load(path: string, skipThrough: number): Promise<SegmentFile> {
    const segment = new SegmentFile(path);
    const content = await readFile(path);
    segment.#size = content.length;
    let start = 0;
    while (start < content.length) {
      const end = content.indexOf(0x0a, start);
      if (end === -1) break;
      const header = /^\{"s":(\d+),"c":"([a-z]+)","m":/.exec(
        content.subarray(start, Math.min(end, start + 64)).toString('latin1'),
      );
      const channel = header?.[2] as OutboxChannel | undefined;
      if (header !== null && channel !== undefined && outboxChannels.includes(channel)) {
        const seq = Number(header[1]);
        const offset = start + header[0].length;
        const length = end + 1 - lineSuffix.length - offset;
        if (seq > skipThrough && length > 0) {
          segment.records.push({ seq, channel, segment, offset, length, acked: false });
        }
      }
      start = end + 1;
    }
    return segment;
  }

  get size(): number {
    return this.#size;
  }

  get writable(): boolean {
    return this.#handle !== undefined;
  }

  get lastSeq(): number {
    return this.records.at(-1)?.seq ?? 0;
  }

  async append(seq: number, channel: OutboxChannel, payload: string): Promise<RecordRef> {
    if (this.#handle === undefined) throw new Error(`${this.path} is sealed`);
    const prefix = linePrefix(seq, channel);
    const line = Buffer.from(`${prefix}${payload}${lineSuffix}`);
    const offset = this.#size + Buffer.byteLength(prefix);
    await this.#handle.write(line);
    this.#size += line.length;
    this.#dirty = true;
    const ref: RecordRef = {
      seq,
      channel,
      segment: this,
      offset,
      length: Buffer.byteLength(payload),
      acked: false,
    };
    this.records.push(ref);
    return ref;
  }

  async read(ref: RecordRef): Promise<Buffer> {
    const handle = this.#handle ?? (await open(this.path, 'r'));
    try {
      const buffer = Buffer.alloc(ref.length);
      await handle.read(buffer, 0, ref.length, ref.offset);
      return buffer;
    } finally {
      if (handle !== this.#handle) await handle.close();
    }
  }

  async sync(): Promise<void> {
    if (this.#handle === undefined || !this.#dirty) return;
    this.#dirty = false;
    await this.#handle.sync();
  }

  /** Stops appending: the next record goes to a new segment. */
  async seal(): Promise<void> {
    await this.sync();
    await this.#handle?.close();
    this.#handle = undefined;
  }

  /** Rewrites the file with only the records `keep` accepts; the others leave memory too. */
  async rewrite(keep: (ref: RecordRef) => boolean): Promise<number> {
    if (this.#handle !== undefined) throw new Error(`${this.path} must be sealed before a rewrite`);
    const kept = this.records.filter(keep);
    const dropped = this.records.length - kept.length;
    const parts: Buffer[] = [];
    let size = 0;
    const moved: Array<{ ref: RecordRef; offset: number }> = [];
    for (const ref of kept) {
      const prefix = Buffer.from(linePrefix(ref.seq, ref.channel));
      const payload = await this.read(ref);
      moved.push({ ref, offset: size + prefix.length });
      parts.push(prefix, payload, Buffer.from(lineSuffix));
      size += prefix.length + payload.length + lineSuffix.length;
    }
    const temporary = `${this.path}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(Buffer.concat(parts));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.path);
    for (const { ref, offset } of moved) ref.offset = offset;
    this.records.splice(0, this.records.length, ...kept);
    this.#size = size;
    return dropped;
  }

  async delete(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
    await rm(this.path, { force: true });
  }
}
