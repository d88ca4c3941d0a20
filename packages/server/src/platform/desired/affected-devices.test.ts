import { describe, expect, it } from 'vitest';
import { affectedDevices } from './affected-devices.js';

describe('affectedDevices', () => {
  it('maps each relevant action to devices or fleets and ignores the rest', () => {
    const affected = affectedDevices([
      { action: 'fleet.default_release_moved', resource_id: 'f1', summary: {} },
      { action: 'device.pinned', resource_id: 'd1', summary: {} },
      { action: 'device.moved', resource_id: 'd2', summary: {} },
      { action: 'variable.updated', resource_id: 'v1', summary: { fleet_id: 'f2' } },
      {
        action: 'variable.deleted',
        resource_id: 'v2',
        summary: { fleet_id: 'f3', device_id: 'd3' },
      },
      { action: 'release.created', resource_id: 'r1', summary: { fleet_id: 'f4' } },
      { action: 'api_key.created', resource_id: 'k1', summary: {} },
    ]);
    expect(affected).toEqual({
      devices: new Set(['d1', 'd2', 'd3']),
      fleets: new Set(['f1', 'f2']),
      removed: new Set(),
      assignments: [],
    });
  });

  it('clears a deregistered device unless it registers again later in the batch', () => {
    const gone = affectedDevices([
      { action: 'device.registered', resource_id: 'd1', summary: {} },
      { action: 'device.deregistered', resource_id: 'd1', summary: {} },
    ]);
    expect(gone.devices).toEqual(new Set());
    expect(gone.removed).toEqual(new Set(['d1']));
    const back = affectedDevices([
      { action: 'device.deregistered', resource_id: 'd1', summary: {} },
      { action: 'device.registered', resource_id: 'd1', summary: {} },
    ]);
    expect(back.devices).toEqual(new Set(['d1']));
  });
});
