import { describe, expect, it } from 'vitest';
import { subscriptionMatches, type SubscriptionFilter } from './record-events.js';
import { translateAudit } from './translate-audit.js';
import { auditFixtures } from './translation-fixtures.js';

const event = translateAudit(auditFixtures['device.registered'])!;
const everything: SubscriptionFilter = {
  id: 's1',
  org_id: event.org_id,
  event_types: ['*'],
  fleet_id: null,
  device_id: null,
};

describe('the fan-out rule', () => {
  it('matches a subscription of the org whose filters all agree', () => {
    expect(subscriptionMatches(everything, event)).toBe(true);
    expect(
      subscriptionMatches(
        {
          ...everything,
          event_types: ['release.created', 'device.*'],
          fleet_id: event.fleet_id,
          device_id: event.device_id,
        },
        event,
      ),
    ).toBe(true);
  });

  it('never matches another org', () => {
    expect(
      subscriptionMatches({ ...everything, org_id: '11111111-1111-4111-8111-111111111111' }, event),
    ).toBe(false);
  });

  it('refuses on any one filter', () => {
    expect(subscriptionMatches({ ...everything, event_types: ['device.online'] }, event)).toBe(
      false,
    );
    expect(subscriptionMatches({ ...everything, event_types: [] }, event)).toBe(false);
    expect(subscriptionMatches({ ...everything, fleet_id: 'other' }, event)).toBe(false);
    expect(subscriptionMatches({ ...everything, device_id: 'other' }, event)).toBe(false);
  });

  it('never matches a device filter to an event about no device', () => {
    const release = translateAudit(auditFixtures['release.created'])!;
    expect(subscriptionMatches({ ...everything, device_id: event.device_id }, release)).toBe(false);
  });
});
