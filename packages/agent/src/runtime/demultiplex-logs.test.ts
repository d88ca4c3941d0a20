import { describe, expect, it } from 'vitest';
import type { LogEntry } from './container-runtime.js';
import { demultiplexLogs, type LogFrame, logEntries } from './demultiplex-logs.js';

// Captured from podman 4.3.1: GET /libpod/containers/{id}/logs?stdout=true&stderr=true&timestamps=true
// for `sh -c 'echo hello; echo err >&2; ...'`.
const helloErr = Buffer.from(
  '010000000000001b323032362d31312d32325431353a31353a34315a2068656c6c6f0a' +
    '0200000000000019323032362d31312d32325431353a31353a34315a206572720a',
  'hex',
);

// For `echo -n no-newline-yet; sleep 1; echo " and the rest"; echo ünïcode >&2`: a line
// without its newline arrives as a partial frame, and the rest in a later one.
const partialLine = Buffer.from(
  '0100000000000023323032362d31312d32325431353a32313a32375a206e6f2d6e65776c696e652d796574' +
    '0100000000000023323032362d31312d32325431353a32313a32385a2020616e642074686520726573740a' +
    '020000000000001f323032362d31312d32325431353a32313a32385a20c3bc6ec3af636f64650a',
  'hex',
);

async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const entries = (bytes: Buffer, size = bytes.length): Promise<LogEntry[]> =>
  all(logEntries(demultiplexLogs(chunks(bytes, size))));

describe('demultiplexLogs', () => {
  it('reads the stream and payload of each captured frame', async () => {
    const frames = await all(demultiplexLogs(chunks(helloErr, helloErr.length)));
    expect(frames.map((frame: LogFrame) => [frame.stream, frame.payload.toString()])).toEqual([
      ['stdout', '2026-11-22T15:15:41Z hello\n'],
      ['stderr', '2026-11-22T15:15:41Z err\n'],
    ]);
  });

  it('gives the same frames however the bytes are cut into chunks', async () => {
    const whole = await entries(helloErr);
    for (let size = 1; size < helloErr.length; size += 1) {
      expect(await entries(helloErr, size)).toEqual(whole);
    }
  });

  it('sends engine errors (stream 3) to stderr and ignores stdin (0)', async () => {
    const frame = (kind: number, text: string) => {
      const header = Buffer.alloc(8);
      header[0] = kind;
      header.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([header, Buffer.from(text)]);
    };
    const frames = await all(
      demultiplexLogs(chunks(Buffer.concat([frame(0, 'typed'), frame(3, 'boom\n')]), 5)),
    );
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([['stderr', 'boom\n']]);
  });

  it('refuses a stream that ends inside a frame', async () => {
    await expect(entries(helloErr.subarray(0, 20))).rejects.toThrow(/ended inside a frame/);
  });
});

describe('logEntries', () => {
  it('turns captured frames into lines with ISO timestamps', async () => {
    expect(await entries(helloErr)).toEqual([
      { stream: 'stdout', timestamp: '2026-11-22T15:15:41.000Z', message: 'hello' },
      { stream: 'stderr', timestamp: '2026-11-22T15:15:41.000Z', message: 'err' },
    ]);
  });

  it('joins partial frames into one line that keeps the first timestamp, and decodes UTF-8 across chunks', async () => {
    const expected = [
      {
        stream: 'stdout',
        timestamp: '2026-11-22T15:21:27.000Z',
        message: 'no-newline-yet and the rest',
      },
      { stream: 'stderr', timestamp: '2026-11-22T15:21:28.000Z', message: 'ünïcode' },
    ];
    for (const size of [1, 7, partialLine.length]) {
      expect(await entries(partialLine, size)).toEqual(expected);
    }
  });

  it('keeps nanosecond timestamps to the millisecond and lines without a timestamp', async () => {
    const frames: LogFrame[] = [
      { stream: 'stdout', payload: Buffer.from('2026-11-22T15:15:41.944632283Z precise\n') },
      { stream: 'stdout', payload: Buffer.from('plain\nlast without newline') },
    ];
    async function* source() {
      yield* frames;
    }
    const now = () => '2030-01-01T00:00:00.000Z';
    expect(await all(logEntries(source(), now))).toEqual([
      { stream: 'stdout', timestamp: '2026-11-22T15:15:41.944Z', message: 'precise' },
      { stream: 'stdout', timestamp: now(), message: 'plain' },
      { stream: 'stdout', timestamp: now(), message: 'last without newline' },
    ]);
  });
});
