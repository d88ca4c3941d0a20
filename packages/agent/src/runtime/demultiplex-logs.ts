import { StringDecoder } from 'node:string_decoder';
import type { LogEntry } from './container-runtime.js';

export interface LogFrame {
  stream: LogEntry['stream'];
  payload: Buffer;
}

const headerBytes = 8;

/**
 * Splits the stream podman sends for a container without a TTY into frames.
 * Each frame has an 8-byte header: the stream (1 stdout, 2 stderr, 3 the
 * engine's own errors), three zero bytes, and the payload length as a
 * big-endian uint32. Frames arrive cut anywhere across chunks.
 */
export async function* demultiplexLogs(source: AsyncIterable<unknown>): AsyncGenerator<LogFrame> {
  let buffered = Buffer.alloc(0);
  for await (const chunk of source) {
    buffered =
      buffered.length === 0
        ? Buffer.from(chunk as Uint8Array)
        : Buffer.concat([buffered, chunk as Uint8Array]);
    while (buffered.length >= headerBytes) {
      const size = buffered.readUInt32BE(4);
      if (buffered.length < headerBytes + size) break;
      const kind = buffered[0];
      const payload = buffered.subarray(headerBytes, headerBytes + size);
      buffered = buffered.subarray(headerBytes + size);
      // Stdin (0) never carries output; the engine's errors (3) belong with stderr.
      if (kind === 1) yield { stream: 'stdout', payload };
      else if (kind === 2 || kind === 3) yield { stream: 'stderr', payload };
    }
  }
  if (buffered.length > 0) {
    throw new Error(`the log stream ended inside a frame (${buffered.length} bytes left over)`);
  }
}

const timestampPrefix = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

function splitTimestamp(text: string): { timestamp?: string; rest: string } {
  const match = timestampPrefix.exec(text);
  if (match?.[1] === undefined) return { rest: text };
  const parsed = new Date(match[1]);
  const timestamp = Number.isNaN(parsed.getTime()) ? match[1] : parsed.toISOString();
  return { timestamp, rest: text.slice(match[0].length) };
}

interface PendingLine {
  decoder: StringDecoder;
  text: string;
  timestamp: string | undefined;
}

/**
 * Turns frames requested with `timestamps=true` into one entry per line.
 * Podman sends one line a frame, but a long line arrives as several partial
 * frames without a newline, each with its own timestamp: the line keeps the
 * first one.
 */
export async function* logEntries(
  frames: AsyncIterable<LogFrame>,
  now: () => string = () => new Date().toISOString(),
): AsyncGenerator<LogEntry> {
  const pending: Record<LogEntry['stream'], PendingLine> = {
    stdout: { decoder: new StringDecoder('utf8'), text: '', timestamp: undefined },
    stderr: { decoder: new StringDecoder('utf8'), text: '', timestamp: undefined },
  };
  for await (const frame of frames) {
    const line = pending[frame.stream];
    let text = line.decoder.write(frame.payload);
    let atFrameStart = true;
    while (text !== '') {
      const { timestamp, rest } =
        atFrameStart || line.text === '' ? splitTimestamp(text) : { rest: text };
      atFrameStart = false;
      line.timestamp ??= timestamp;
      const newline = rest.indexOf('\n');
      if (newline < 0) {
        line.text += rest;
        break;
      }
      const message = line.text + rest.slice(0, newline);
      yield { stream: frame.stream, timestamp: line.timestamp ?? now(), message };
      line.text = '';
      line.timestamp = undefined;
      text = rest.slice(newline + 1);
    }
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const line = pending[stream];
    const message = line.text + line.decoder.end();
    if (message !== '') yield { stream, timestamp: line.timestamp ?? now(), message };
  }
}
