// The convergence benches' baseline: how fast the broker alone delivers one
// retained QoS 1 message to each of N subscribed sessions (the same N as the
// simulated devices, in a child process like the simulator), published as
// fast as one connection can — what the desired-state path would cost if
// nothing but the broker stood between the scheduler and the devices.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

const here = dirname(fileURLToPath(import.meta.url));
const publishWindow = 500;

function lines(stream, onLine) {
  let buffered = '';
  stream.on('data', (chunk) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) onLine(line);
  });
}

async function publishAll(client, topics, payload) {
  for (let i = 0; i < topics.length; i += publishWindow)
    await Promise.all(
      topics
        .slice(i, i + publishWindow)
        .map((topic) => client.publishAsync(topic, payload, { qos: 1, retain: true })),
    );
}

export async function brokerBaseline({ url, sessions, payloadBytes }) {
  const topicRoot = `flock-bench/converge-${randomBytes(4).toString('hex')}`;
  const child = spawn(
    process.execPath,
    [join(here, 'baseline-sessions.js'), url, String(sessions), topicRoot],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const waiting = new Map();
  const seen = new Map();
  lines(child.stdout, (line) => {
    seen.set(line, performance.now());
    waiting.get(line)?.();
  });
  const milestone = (line) =>
    seen.has(line)
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          waiting.set(line, resolve);
          child.once('exit', (code) => reject(new Error(`baseline sessions exited with ${code}`)));
        });
  const connectBegan = performance.now();
  await milestone('ready');
  const connectMs = performance.now() - connectBegan;
  const publisher = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0 });
  await once(publisher, 'connect');
  const topics = Array.from({ length: sessions }, (_, i) => `${topicRoot}/${i}/desired`);
  const payload = Buffer.from(JSON.stringify({ pad: 'x'.repeat(Math.max(0, payloadBytes - 10)) }));
  const began = performance.now();
  const done = milestone('done');
  await publishAll(publisher, topics, payload);
  const publishedMs = performance.now() - began;
  await done;
  const deliveredMs = seen.get('done') - began;
  await publishAll(publisher, topics, '');
  await publisher.endAsync();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
  return {
    sessions,
    payload_bytes: payload.length,
    sessions_connect_ms: Math.round(connectMs),
    published_ms: Math.round(publishedMs),
    delivered_ms: Math.round(deliveredMs),
    per_second: Math.round((sessions * 1000) / deliveredMs),
  };
}
