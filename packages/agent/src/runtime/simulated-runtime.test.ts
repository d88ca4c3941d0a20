import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { containerRuntimeContract } from './container-runtime.contract.js';
import { type ContainerSpec, type LogEntry, managedLabel } from './container-runtime.js';
import { type SimulatedClock, virtualClock } from './simulated-clock.js';
import { SimulatedRuntime, type SimulatedRuntimeOptions } from './simulated-runtime.js';

const image = 'registry.example.com/flock/busybox:1.36';

containerRuntimeContract(
  'SimulatedRuntime',
  () =>
    new SimulatedRuntime({
      seed: 7,
      pullMs: [5, 20],
      startMs: [5, 20],
      stopMs: [5, 20],
      imageExists: (reference) => !reference.includes('no-such-image'),
    }),
  { image },
);

function spec(name: string, overrides: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    name,
    image,
    environment: {},
    ports: [],
    volumes: [],
    restart: 'no',
    labels: { [managedLabel]: 'true' },
    ...overrides,
  };
}

async function settled<T>(work: Promise<T>): Promise<string> {
  return work.then(
    (value) => `ok ${String(value)}`,
    (error: Error) => `error ${error.message}`,
  );
}

async function all(entries: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of entries)
    out.push(`${entry.timestamp} ${entry.stream} ${entry.message}`);
  return out;
}

/** Every outcome and every wait of a fixed scenario, to compare two runs. */
async function trace(options: SimulatedRuntimeOptions): Promise<string[]> {
  const clock = virtualClock();
  const events: string[] = [];
  const recording: SimulatedClock = {
    now: clock.now,
    sleep: (ms, signal) => {
      events.push(`sleep ${ms.toFixed(3)}`);
      return clock.sleep(ms, signal);
    },
  };
  const runtime = new SimulatedRuntime({ ...options, clock: recording });
  for (let round = 0; round < 20; round += 1) {
    events.push(await settled(runtime.pullImage(`${image}-${round}`)));
    const id = await runtime
      .createContainer(spec(`app-${round}`, { image: `${image}-${round}` }))
      .catch(() => '');
    events.push(`created ${id}`);
    events.push(await settled(runtime.startContainer(id)));
  }
  clock.advance(60_000);
  for (const info of await runtime.listContainers())
    events.push(`${info.name} ${info.state} ${info.exitCode}`);
  return events;
}

describe('SimulatedRuntime', () => {
  const chaotic: SimulatedRuntimeOptions = {
    seed: 42,
    failures: { pull: 0.3, start: 0.2, crash: 0.3 },
  };

  it('repeats every id, duration and failure for the same seed, and differs for another', async () => {
    const first = await trace(chaotic);
    expect(await trace(chaotic)).toEqual(first);
    expect(await trace({ ...chaotic, seed: 43 })).not.toEqual(first);
    expect(first.some((event) => event.startsWith('error'))).toBe(true);
  });

  it('fails pulls with about the configured probability, leaving the image absent', async () => {
    const runtime = new SimulatedRuntime({
      seed: 3,
      failures: { pull: 0.3 },
      clock: virtualClock(),
    });
    let failed = 0;
    for (let i = 0; i < 1000; i += 1) {
      const reference = `${image}-${i}`;
      const ok = await runtime.pullImage(reference).then(
        () => true,
        (error: Error) => {
          expect(error.message).toBe(
            `simulated: pull image "${reference}" failed: simulated network failure`,
          );
          return false;
        },
      );
      expect(await runtime.hasImage(reference)).toBe(ok);
      if (!ok) failed += 1;
    }
    expect(failed).toBeGreaterThan(250);
    expect(failed).toBeLessThan(350);
  });

  it('fails starts when told to, leaving the container created', async () => {
    const runtime = new SimulatedRuntime({ failures: { start: 1 }, clock: virtualClock() });
    await runtime.pullImage(image);
    const id = await runtime.createContainer(spec('web'));
    await expect(runtime.startContainer(id)).rejects.toMatchObject({ code: 'engine_failed' });
    expect((await runtime.listContainers())[0]?.state).toBe('created');
  });

  it('crashes containers soon after they start, with code 1 and a line on stderr', async () => {
    const clock = virtualClock();
    const runtime = new SimulatedRuntime({
      failures: { crash: 1 },
      crashAfterMs: [1000, 2000],
      clock,
    });
    await runtime.pullImage(image);
    const id = await runtime.createContainer(spec('web'));
    await runtime.startContainer(id);
    expect((await runtime.listContainers())[0]?.state).toBe('running');
    clock.advance(2000);
    expect((await runtime.listContainers())[0]).toMatchObject({ state: 'exited', exitCode: 1 });
    const logs = await all(runtime.logs(id, { follow: false }));
    expect(logs.at(-1)).toMatch(/ stderr simulated crash: exiting with code 1$/);
  });

  it('generates heartbeat lines of a long-running image lazily, from `since` on', async () => {
    const clock = virtualClock(Date.UTC(2025, 0, 1));
    const runtime = new SimulatedRuntime({ startMs: [0, 0], heartbeatMs: 1000, clock });
    await runtime.pullImage(image);
    const id = await runtime.createContainer(spec('web'));
    await runtime.startContainer(id);
    clock.advance(3 * 24 * 3600 * 1000);
    const since = new Date(clock.now() - 2500).toISOString();
    expect(await all(runtime.logs(id, { since, follow: false }))).toEqual([
      `${new Date(clock.now() - 2000).toISOString()} stdout web: heartbeat 259198`,
      `${new Date(clock.now() - 1000).toISOString()} stdout web: heartbeat 259199`,
      `${new Date(clock.now()).toISOString()} stdout web: heartbeat 259200`,
    ]);
  });

  it('keeps no timer alive while it waits, and an abort ends the wait', async () => {
    const runtime = new SimulatedRuntime({ pullMs: [60_000, 60_000] });
    const timers = () =>
      process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    const controller = new AbortController();
    const pulling = runtime.pullImage(image, undefined, controller.signal);
    await new Promise((resolve) => setImmediate(resolve));
    expect(timers()).toBe(before);
    controller.abort(new Error('shutting down'));
    await expect(pulling).rejects.toThrow('shutting down');
  });

  it('keeps 10,000 runtimes with a running container each small', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const count = 10_000;
    const clock = virtualClock();
    const options: SimulatedRuntimeOptions = { clock, failures: { crash: 0.1 } };
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const specs = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        spec(`web-${i}`, { command: ['sh', '-c', `echo device ${i}; sleep 600 & wait`] }),
      );

    const baseline = heap();
    const onlySpecs = specs(count);
    const specBytes = (heap() - baseline) / count;
    onlySpecs.length = 0;

    const start = heap();
    const runtimes: SimulatedRuntime[] = [];
    const devices = specs(count);
    for (const [i, device] of devices.entries()) {
      const runtime = new SimulatedRuntime({ ...options, seed: i });
      await runtime.pullImage(image);
      await runtime.startContainer(await runtime.createContainer(device));
      runtimes.push(runtime);
    }
    const perDevice = (heap() - start) / count;
    const perRuntime = perDevice - specBytes;
    console.log(
      `SimulatedRuntime memory: ${Math.round(perRuntime)} bytes per runtime with one running ` +
        `container (${Math.round(perDevice)} bytes including its ${Math.round(specBytes)}-byte spec), ` +
        `${count} runtimes`,
    );
    expect((await runtimes[count - 1]?.listContainers())?.length).toBe(1);
    expect(perRuntime).toBeLessThan(2048);
  });
});
