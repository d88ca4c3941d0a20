import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PublicEvent, publicEventProblem, publicEventTypes } from '@flock/protocol';
import { describe, expect, it } from 'vitest';
import { translateAudit } from './translate-audit.js';
import { translateRollout } from './translate-rollout.js';
import {
  translateDeviceEvent,
  translateDeviceOffline,
  translateDeviceOnline,
} from './translate-device.js';
import {
  auditFixtures,
  offlineFixture,
  onlineFixture,
  rolloutFixtures,
  updateCompletedFixture,
  updateFailedFixture,
} from './translation-fixtures.js';

/**
 * What customers receive, pinned: a change to an internal message or a
 * translation that alters a public payload fails here. Change a golden file
 * only for a deliberate, backwards-compatible change of the catalogue.
 */
const goldenDir = join(import.meta.dirname, '__golden__');

const translated: Record<string, PublicEvent | undefined> = {
  ...Object.fromEntries(
    Object.entries(auditFixtures).map(([type, record]) => [type, translateAudit(record)]),
  ),
  'device.online': translateDeviceOnline(onlineFixture),
  'device.offline': translateDeviceOffline(offlineFixture),
  'update.completed': translateDeviceEvent(updateCompletedFixture),
  'update.failed': translateDeviceEvent(updateFailedFixture),
  ...Object.fromEntries(
    Object.entries(rolloutFixtures).map(([type, message]) => [type, translateRollout(message)]),
  ),
};

describe('public event payloads', () => {
  it.each(Object.keys(translated))('%s matches its golden file', async (type) => {
    const golden = JSON.parse(await readFile(join(goldenDir, `${type}.json`), 'utf8')) as unknown;
    const event = translated[type];
    expect(event?.type).toBe(type);
    expect(publicEventProblem(event)).toBeUndefined();
    // Key order too: the JSON customers see is the JSON pinned.
    expect(JSON.stringify(event, null, 2)).toBe(JSON.stringify(golden, null, 2));
  });

  it('covers the whole catalogue', () => {
    expect(Object.keys(translated).sort()).toEqual([...publicEventTypes].sort());
  });

  it('has a golden file for each translated type and no other', async () => {
    const files = (await readdir(goldenDir)).map((file) => file.replace(/\.json$/, ''));
    expect(files.sort()).toEqual(Object.keys(translated).sort());
  });
});
