import { describe, expect, it } from 'vitest';
import { publicEventTypes } from './event-types.js';
import { type PublicEventOf, publicEventProblem, publicEventSchemas } from './public-event.js';

const org = '0b6f3c5e-1f43-4c1a-9d6b-3a2f1e0d9c8b';
const device = '6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const online: PublicEventOf<'device.online'> = {
  id: 'c3d4e5f6-a7b8-5c9d-8e0f-1a2b3c4d5e6f',
  type: 'device.online',
  version: 1,
  occurred_at: '2026-11-22T18:00:00.000Z',
  org_id: org,
  fleet_id: null,
  device_id: device,
  data: {},
};

describe('public event envelope', () => {
  it('has a schema for every type of the catalogue', () => {
    expect(Object.keys(publicEventSchemas).sort()).toEqual([...publicEventTypes].sort());
  });

  it('accepts a valid event', () => {
    expect(publicEventProblem(online)).toBeUndefined();
  });

  it('names what is wrong with an invalid one', () => {
    expect(publicEventProblem({ ...online, type: 'device.exploded' })).toMatch(
      /unknown event type/,
    );
    expect(publicEventProblem({ ...online, version: 2 })).toMatch(/^\/version/);
    expect(publicEventProblem({ ...online, occurred_at: 'yesterday' })).toMatch(/^\/occurred_at/);
    expect(publicEventProblem({ ...online, org_id: 'org-1' })).toMatch(/^\/org_id/);
    expect(publicEventProblem({ ...online, internal: true })).toBeDefined();
    expect(publicEventProblem({ ...online, data: { seen_by: 'ingester-3' } })).toMatch(/^\/data/);
    expect(publicEventProblem(null)).toBeDefined();
  });
});
