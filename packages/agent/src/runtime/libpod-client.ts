import { type IncomingMessage, request } from 'node:http';
import { StringDecoder } from 'node:string_decoder';

/** A failed libpod call: `status` is undefined when podman never answered. */
export class LibpodError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'LibpodError';
  }
}

export interface LibpodClientOptions {
  socketPath: string;
  /**
   * Path prefix before `/libpod`: `v4.0.0` works on podman 4 and 5 alike; ''
   * uses the unversioned routes.
   */
  apiVersion?: string;
}

export interface LibpodRequest {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  signal?: AbortSignal | undefined;
}

export interface LibpodResponse {
  status: number;
  body: unknown;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Just enough HTTP over podman's unix socket; no client library needed. */
export class LibpodClient {
  readonly socketPath: string;
  private readonly prefix: string;

  constructor(options: LibpodClientOptions) {
    this.socketPath = options.socketPath;
    const version = options.apiVersion ?? 'v4.0.0';
    this.prefix = version === '' ? '/libpod' : `/${version}/libpod`;
  }

  /** Reads the whole answer; statuses of 400 and up throw with podman's message. */
  async call(method: string, path: string, options: LibpodRequest = {}): Promise<LibpodResponse> {
    const response = await this.stream(method, path, options);
    const text = (await readAll(response)).toString('utf8');
    return { status: response.statusCode ?? 0, body: parseJson(text) };
  }

  /** Opens a response to read as it arrives, e.g. pull progress or followed logs. */
  async stream(
    method: string,
    path: string,
    options: LibpodRequest = {},
  ): Promise<IncomingMessage> {
    options.signal?.throwIfAborted();
    const response = await this.send(method, this.url(path, options.query), options);
    const status = response.statusCode ?? 0;
    if (status < 400) return response;
    const text = (await readAll(response)).toString('utf8');
    throw new LibpodError(status, podmanMessage(text) ?? `HTTP ${status}`);
  }

  private url(path: string, query: LibpodRequest['query']): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.set(key, String(value));
    }
    const search = params.toString();
    return `${this.prefix}${path}${search === '' ? '' : `?${search}`}`;
  }

  private send(method: string, path: string, options: LibpodRequest): Promise<IncomingMessage> {
    const body =
      options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        method,
        path,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': body.length },
        signal: options.signal,
      });
      req.once('response', resolve);
      req.once('error', (error: NodeJS.ErrnoException) => {
        if (error.name === 'AbortError') reject(error);
        // Node's message names the socket, e.g. `connect ENOENT /run/podman/podman.sock`.
        else reject(new LibpodError(undefined, error.message, { cause: error }));
      });
      req.end(body);
    });
  }
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Podman streams pull progress as one JSON document a line. */
export async function* readJsonLines(stream: AsyncIterable<unknown>): AsyncGenerator<unknown> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of stream) {
    pending += decoder.write(Buffer.from(chunk as Uint8Array));
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line !== '') yield parseJson(line);
      newline = pending.indexOf('\n');
    }
  }
  if (pending.trim() !== '') yield parseJson(pending);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function podmanMessage(text: string): string | undefined {
  const body = parseJson(text);
  if (isRecord(body) && typeof body['message'] === 'string') return body['message'];
  return text.trim() === '' ? undefined : text.trim();
}
