// Watches a rollout from the broker, as a bystander: when each device's new
// desired state went by, when the device first reported running the release
// (state or update.result), when the scheduler announced it counted the
// device, and the rollout's own events. Times are performance.now() of this
// process. QoS 0 on separate connections, so no topic's burst holds up
// another's; what was missed is counted, not guessed.
import { once } from 'node:events';
import mqtt from 'mqtt';

const filters = [
  'devices/+/desired',
  'devices/+/state',
  'devices/+/events',
  'flock/internal/v1/rollout/+',
  'flock/internal/v1/update/+',
];

const deviceOf = (topic) => topic.split('/')[1];

export class ConvergeObserver {
  /** Device id → the release it last reported running, for our releases only. */
  running = new Map();
  /** Release id → { desired, reported } maps of device id → first time seen. */
  #byRelease = new Map();
  /** Rollout id → { events: [{type, stage, at}], counted: Map device → time }. */
  #byRollout = new Map();
  /** Size of the last new desired state seen, for the baseline's payload. */
  desiredBytes = 0;
  #clients = [];

  async connect(url) {
    for (const filter of filters) {
      const client = mqtt.connect(url, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        clientId: `bench-converge-${filter.replaceAll(/[/+]/g, '-')}-${process.pid}`,
      });
      await once(client, 'connect');
      client.on('message', (topic, payload) => this.#message(filter, topic, payload));
      await client.subscribeAsync(filter, { qos: 0 });
      this.#clients.push(client);
    }
  }

  /** Starts recording the devices of `releaseId`. */
  watchRelease(releaseId) {
    if (!this.#byRelease.has(releaseId))
      this.#byRelease.set(releaseId, { desired: new Map(), reported: new Map() });
    return this.#byRelease.get(releaseId);
  }

  rollout(rolloutId) {
    if (!this.#byRollout.has(rolloutId))
      this.#byRollout.set(rolloutId, { events: [], counted: new Map() });
    return this.#byRollout.get(rolloutId);
  }

  runningCount(releaseId) {
    let count = 0;
    for (const release of this.running.values()) if (release === releaseId) count += 1;
    return count;
  }

  #message(filter, topic, payload) {
    if (payload.length === 0) return;
    const at = performance.now();
    let message;
    try {
      message = JSON.parse(payload.toString());
    } catch {
      return;
    }
    switch (filter) {
      case 'devices/+/desired': {
        const marks = this.#byRelease.get(message.release?.id);
        const device = deviceOf(topic);
        if (marks === undefined || marks.desired.has(device)) return;
        marks.desired.set(device, at);
        this.desiredBytes = payload.length;
        return;
      }
      case 'devices/+/state': {
        const release = message.running_release_id;
        const marks = this.#byRelease.get(release);
        if (marks === undefined) return;
        const device = deviceOf(topic);
        this.running.set(device, release);
        if (!marks.reported.has(device)) marks.reported.set(device, at);
        return;
      }
      case 'devices/+/events': {
        if (message.type !== 'update.result' || message.success !== true) return;
        const marks = this.#byRelease.get(message.release_id);
        const device = deviceOf(topic);
        if (marks !== undefined && !marks.reported.has(device)) marks.reported.set(device, at);
        return;
      }
      case 'flock/internal/v1/rollout/+': {
        const rollout = this.#byRollout.get(message.rollout_id);
        rollout?.events.push({ type: message.type, stage: message.stage, at });
        return;
      }
      case 'flock/internal/v1/update/+': {
        const rollout = this.#byRollout.get(message.rollout_id);
        if (rollout !== undefined && !rollout.counted.has(message.device_id))
          rollout.counted.set(message.device_id, at);
        return;
      }
    }
  }

  async close() {
    await Promise.all(this.#clients.map((client) => client.endAsync()));
  }
}
