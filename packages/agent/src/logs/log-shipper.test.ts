import type { LogsMessage } from '@flock/protocol';
import { parseMessage } from '@flock/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeRuntime } from '../../test/support/fake-runtime.js';
import { waitFor } from '../../test/support/wait-for.js';
import { LogShipper } from './log-shipper.js';

const log = pino({ level: 'silent' });
const image = `registry.example/app@sha256:${'e'.repeat(64)}`;

async function runningContainer(runtime: FakeRuntime, service: string): Promise<string> {
  runtime.images.add(image);
  const id = await runtime.createContainer({
    name: `flock_${service}`,
    image,
    environment: {},
    ports: [],
    volumes: [],
    restart: 'always',
    labels: { 'io.flock.managed': 'true', 'io.flock.service': service },
  });
  await runtime.startContainer(id);
  return id;
}

describe('LogShipper', () => {
  it('batches lines of every running container by time and size', async () => {
    const runtime = new FakeRuntime();
    const web = await runningContainer(runtime, 'web');
    const db = await runningContainer(runtime, 'db');
    const batches: LogsMessage[] = [];
    const shipper = new LogShipper({
      runtime,
      log,
      batchMs: 50,
      maxLines: 3,
      publish: async (m) => void batches.push(m),
    });
    shipper.track(await runtime.listContainers());
    runtime.print(web, 'listening on :80');
    runtime.print(db, 'ready', 'stderr');
    await waitFor(() => batches.length === 1, { what: 'a batch by time' });
    expect(batches[0]!.lines.map((l) => `${l.service}/${l.stream}: ${l.message}`)).toEqual([
      'web/stdout: listening on :80',
      'db/stderr: ready',
    ]);
    for (let i = 0; i < 3; i += 1) runtime.print(web, `line ${i}`);
    await waitFor(() => batches.length === 2, { what: 'a batch by size' });
    expect(batches[1]!.lines).toHaveLength(3);
    expect(batches.every((b) => parseMessage('logs', JSON.stringify(b)).ok)).toBe(true);
    await shipper.close();
  });

  it('follows a restarted container again without repeating lines, ', async () => {
    const runtime = new FakeRuntime();
    const web = await runningContainer(runtime, 'web');
    const batches: LogsMessage[] = [];
    const shipper = new LogShipper({
      runtime,
      log,
      batchMs: 20,
      publish: async (m) => void batches.push(m),
    });
    const shipped = () => batches.flatMap((b) => b.lines.map((l) => l.message));
    shipper.track(await runtime.listContainers());
    runtime.print(web, 'first');
    await waitFor(() => shipped().includes('first'));
    await runtime.stopContainer(web);
    shipper.track(await runtime.listContainers());
    await runtime.startContainer(web);
    shipper.track(await runtime.listContainers());
    runtime.print(web, 'second');
    await waitFor(() => shipped().includes('second'), { what: 'the line after the restart' });
    await shipper.close();
    expect(shipped()).toEqual(['first', 'second']);
  });
});
