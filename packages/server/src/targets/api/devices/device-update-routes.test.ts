import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiBackends, startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { auditEvents } from '../../../../test/support/device-fixtures.js';
import {
  problemFields,
  type RegistryClient,
  registryClient,
} from '../../../../test/support/registry-client.js';
import { deviceRoutes } from './device-routes.js';
import { deviceUpdateRoutes } from './device-update-routes.js';

describe.each(apiBackends)('device registry updates on %s', (backend) => {
  let api: TestApi;
  let org: string;
  let fleet: string;
  let viewer: RegistryClient;
  let developer: RegistryClient;
  let outsider: RegistryClient;

  beforeAll(async () => {
    api = await startTestApi({ backend, routes: [deviceRoutes, deviceUpdateRoutes] });
    org = await api.createOrg();
    fleet = await api.createFleet(org);
    viewer = registryClient(api, await api.createApiKey(org, 'viewer'));
    developer = registryClient(api, await api.createApiKey(org, 'developer'));
    const other = await api.createOrg();
    outsider = registryClient(api, await api.createApiKey(other, 'owner'));
  });
  afterAll(async () => api?.close());

  const deviceRow = (id: string) =>
    api.database.db
      .selectFrom('devices')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('sets every registry field, shows it with a new ETag and audits the change', async () => {
    const device = await api.createDevice(org, fleet, {
      name: 'till-1',
      labels: { env: 'staging', legacy: '' },
      attributes: { rack: 3 },
    });
    const body = {
      name: 'till-01',
      labels: { env: 'prod', 'example.com/region': 'eu-west' },
      attributes: { rack: 4, sensors: ['door', 'temp'], site: { floor: 2 } },
      role: 'kiosk',
      segment: 'canary',
      branch: 'release/2024.1',
      update_interval: 600,
      serial: 'SN-0042',
      geolocation: { latitude: 52.37, longitude: 4.9, accuracy_m: 12.5 },
      owner: 'ops@example.com',
    };
    const patched = await developer.patchDevice(device, body, '"r1"');
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.headers.etag).toBe('"r2"');
    expect(patched.json()).toMatchObject({ ...body, id: device, revision: 2, fleet_id: fleet });

    const read = await viewer.getDevice(device);
    expect(read.json()).toEqual(patched.json());
    expect(read.headers.etag).toBe('"r2"');

    const [event] = await auditEvents(api, org, 'device.updated');
    expect(event).toMatchObject({ resource_type: 'device', resource_id: device });
    expect(event?.summary).toMatchObject({
      fields: Object.keys(body),
      name: { from: 'till-1', to: 'till-01' },
      labels: {
        added: { 'example.com/region': 'eu-west' },
        removed: ['legacy'],
        changed: { env: { from: 'staging', to: 'prod' } },
      },
      attributes: { added: ['sensors', 'site'], removed: [], changed: ['rack'] },
      update_interval: { from: null, to: 600 },
    });
  });

  it('clears fields with null, replaces maps, and keeps the revision when nothing changes', async () => {
    const device = await api.createDevice(org, fleet, {
      role: 'kiosk',
      geolocation: JSON.stringify({ latitude: 1, longitude: 2 }),
      labels: { a: '1', b: '2' },
    });
    const cleared = await developer.patchDevice(device, {
      role: null,
      geolocation: null,
      labels: { c: '3' },
    });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json()).toMatchObject({ role: null, geolocation: null, labels: { c: '3' } });

    const again = await developer.patchDevice(device, { role: null, labels: { c: '3' } });
    expect(again.statusCode).toBe(200);
    expect(again.json().revision).toBe(2);
    const events = await auditEvents(api, org, 'device.updated');
    expect(events.at(-1)?.summary).toEqual({ fields: [] });
  });

  it('names each field that fails validation and writes nothing', async () => {
    const device = await api.createDevice(org, fleet);
    const before = await deviceRow(device);
    const manyLabels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    const cases: [Record<string, unknown>, string[]][] = [
      [{}, ['/body']],
      [{ labels: { '-bad': 'x' } }, ['/body/labels/-bad']],
      [{ labels: { good: 'bad value!' } }, ['/body/labels/good']],
      [{ labels: { 'Example.com/x': 'y' } }, ['/body/labels/Example.com~1x']],
      [{ labels: { ok: { nested: 1 } } }, ['/body/labels/ok']],
      [{ labels: manyLabels }, ['/body/labels']],
      [{ attributes: { blob: 'x'.repeat(17_000) } }, ['/body/attributes']],
      [{ attributes: { deep: [[[[[[[[[1]]]]]]]]] } }, ['/body/attributes']],
      [{ attributes: { note: 'a\u0000b' } }, ['/body/attributes/note']],
      [{ attributes: { '': 1 } }, ['/body/attributes/']],
      [{ attributes: [] }, ['/body/attributes']],
      [{ geolocation: { latitude: 91, longitude: 0 } }, ['/body/geolocation/latitude']],
      [{ geolocation: { latitude: 0 } }, ['/body/geolocation/longitude']],
      [{ update_interval: 5 }, ['/body/update_interval']],
      [{ update_interval: 1.5 }, ['/body/update_interval']],
      [{ role: 'kiosk\n' }, ['/body/role']],
      [{ segment: 'x'.repeat(65) }, ['/body/segment']],
      [{ name: 'has space' }, ['/body/name']],
    ];
    for (const [body, fields] of cases) {
      const response = await developer.patchDevice(device, body);
      const label = JSON.stringify(body).slice(0, 80);
      expect(response.statusCode, label).toBe(400);
      expect(response.json().code, label).toBe('validation_failed');
      for (const field of fields) {
        expect(
          problemFields(response).some((found) => found.startsWith(field)),
          label,
        ).toBe(true);
      }
    }
    for (const body of [{ version_lock: null }, { fleet_id: fleet }, { quarantined: true }]) {
      expect((await developer.patchDevice(device, body)).statusCode).toBe(400);
    }
    expect(await deviceRow(device)).toEqual(before);
  });

  it('answers 412 to a stale If-Match and a malformed one, changing nothing', async () => {
    const device = await api.createDevice(org, fleet);
    expect((await developer.patchDevice(device, { role: 'a' }, '"r1"')).statusCode).toBe(200);
    const stale = await developer.patchDevice(device, { role: 'b' }, '"r1"');
    expect(stale.statusCode).toBe(412);
    expect(stale.json().code).toBe('precondition_failed');
    const malformed = await developer.patchDevice(device, { role: 'b' }, 'r2');
    expect(malformed.statusCode).toBe(412);
    expect(await deviceRow(device)).toMatchObject({ role: 'a', revision: 2 });
    expect((await developer.patchDevice(device, { role: 'b' }, 'W/"r2"')).statusCode).toBe(200);
  });

  it('lets a viewer read but not update, and hides devices from other orgs', async () => {
    const device = await api.createDevice(org, fleet);
    expect((await viewer.patchDevice(device, { role: 'x' })).statusCode).toBe(403);
    expect((await outsider.getDevice(device)).statusCode).toBe(404);
    expect((await outsider.patchDevice(device, { role: 'x' })).statusCode).toBe(404);
    expect(await deviceRow(device)).toMatchObject({ role: null, revision: 1 });
    const missing = await developer.patchDevice('7d444840-9dc0-11d1-b245-5ffdce74fad2', {
      role: 'x',
    });
    expect(missing.statusCode).toBe(404);
  });

  it('shows status from last_seen_at, update_interval and quarantine', async () => {
    const now = Date.now();
    const ago = (seconds: number) => new Date(now - seconds * 1000);
    const cases: [Parameters<TestApi['createDevice']>[2], string][] = [
      [{ last_seen_at: ago(60) }, 'online'],
      [{ last_seen_at: ago(400) }, 'offline'],
      [{ last_seen_at: ago(400), update_interval: 600 }, 'online'],
      [{ last_seen_at: ago(1300), update_interval: 600 }, 'offline'],
      [{ last_seen_at: ago(10), quarantined_at: ago(5) }, 'quarantined'],
      [{}, 'offline'],
    ];
    for (const [fields, status] of cases) {
      const device = await api.createDevice(org, fleet, fields);
      const shown = (await viewer.getDevice(device)).json();
      expect(shown.status, JSON.stringify(fields)).toBe(status);
      expect(shown.quarantined).toBe(status === 'quarantined');
    }
  });
});
