// Child process of the convergence benches' baseline: N plain MQTT sessions,
// each subscribed (QoS 1) to its own `<root>/<i>/desired`, as many as the
// simulated devices. Prints `ready` once every session subscribed, then
// `received <n>` at each thousandth message and `done` when every session got
// its message. Usage: node baseline-sessions.js <mqtt url> <sessions> <root>
import { once } from 'node:events';
import mqtt from 'mqtt';

const [url, count, topicRoot] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const connectConcurrency = 200;
const clients = [];
let received = 0;

async function session(index) {
  const client = mqtt.connect(url, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    keepalive: 600,
    clientId: `${topicRoot.replaceAll('/', '-')}-${index}`,
  });
  await once(client, 'connect');
  let got = false;
  client.on('message', () => {
    if (got) return;
    got = true;
    received += 1;
    if (received % 1000 === 0) process.stdout.write(`received ${received}\n`);
    if (received === count) process.stdout.write('done\n');
  });
  await client.subscribeAsync(`${topicRoot}/${index}/desired`, { qos: 1 });
  clients.push(client);
}

for (let from = 0; from < count; from += connectConcurrency) {
  const batch = [];
  for (let i = from; i < Math.min(count, from + connectConcurrency); i += 1) batch.push(session(i));
  await Promise.all(batch);
}
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await Promise.all(clients.map((client) => client.endAsync()));
  process.exit(0);
});
