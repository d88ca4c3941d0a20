import { describe, expect, it } from 'vitest';
import { type DeviceRowUpdate, mergeDeviceRowUpdates } from './device-rows.js';

const report = (sentAt: number, agentVersion: string) => ({
  sentAt,
  runningReleaseId: null,
  agentVersion,
  osVersion: 'Debian 12',
});

describe('mergeDeviceRowUpdates', () => {
  it('keeps the latest sighting and the report sent last, in the update already waiting', () => {
    const waiting: DeviceRowUpdate = { lastSeenAt: 100, report: report(10, '1.0') };
    const merged = [
      { lastSeenAt: 300 },
      { lastSeenAt: 200, report: report(5, '0.9') },
      { lastSeenAt: 250, report: report(20, '1.1') },
    ].reduce(mergeDeviceRowUpdates, waiting);
    expect(merged).toBe(waiting);
    expect(merged).toEqual({ lastSeenAt: 300, report: report(20, '1.1') });
  });

  it('takes the first report of a device only seen so far', () => {
    expect(
      mergeDeviceRowUpdates({ lastSeenAt: 100 }, { lastSeenAt: 50, report: report(1, '1') }),
    ).toEqual({ lastSeenAt: 100, report: report(1, '1') });
  });
});
