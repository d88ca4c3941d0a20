import { describe, expect, it } from 'vitest';
import {
  composeServices,
  effectiveVariables,
  type ScopedVariable,
} from './effective-environment.js';

const device = 'd0000000-0000-4000-8000-000000000000';
let next = 0;
const variable = (
  name: string,
  scope: { device?: boolean; service?: string },
  value = `${name}-${++next}`,
  secret = false,
): ScopedVariable => ({
  id: `v${++next}`,
  device_id: scope.device === true ? device : null,
  service: scope.service ?? null,
  name,
  value: secret ? null : value,
  secret,
});

describe('effectiveVariables', () => {
  it('takes the most specific definition and lists what it shadows, most specific first', () => {
    const fleet = variable('MODE', {});
    const fleetWeb = variable('MODE', { service: 'web' });
    const deviceAll = variable('MODE', { device: true });
    const deviceWeb = variable('MODE', { device: true, service: 'web' });
    const all = [fleet, deviceWeb, fleetWeb, deviceAll];
    const [web] = effectiveVariables(all, 'web');
    expect(web).toMatchObject({ source: 'device_service', variable_id: deviceWeb.id });
    expect(web?.shadowed.map((entry) => entry.source)).toEqual([
      'device',
      'fleet_service',
      'fleet',
    ]);
    expect(effectiveVariables(all, 'worker')[0]).toMatchObject({ source: 'device' });
    expect(effectiveVariables([fleet, fleetWeb], 'worker')[0]).toMatchObject({ source: 'fleet' });
    expect(effectiveVariables([fleet, fleetWeb], 'web')[0]).toMatchObject({
      source: 'fleet_service',
    });
  });

  it('ignores other services, sorts by name and never shows a secret', () => {
    const result = effectiveVariables(
      [
        variable('Z', {}),
        variable('A', { service: 'worker' }),
        variable('TOKEN', { device: true }, 'hidden', true),
      ],
      'web',
    );
    expect(result.map((entry) => entry.name)).toEqual(['TOKEN', 'Z']);
    expect(result[0]).toMatchObject({ secret: true, value: null });
  });
});

describe('composeServices', () => {
  it("names a compose document's services and nothing for anything else", () => {
    expect(composeServices({ services: { web: {}, db: {} } })).toEqual(['web', 'db']);
    for (const other of [null, 'x', [], { services: [] }, { services: 'web' }]) {
      expect(composeServices(other)).toEqual([]);
    }
  });
});
