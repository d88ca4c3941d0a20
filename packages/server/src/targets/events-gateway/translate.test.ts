import { describe, expect, it } from 'vitest';
import { publicEventProblem } from '@flock/protocol';
import { translateAudit } from './translate-audit.js';
import { translateDeviceEvent, translateDeviceOnline } from './translate-device.js';
import { translateRollout } from './translate-rollout.js';
import {
  auditFixtures,
  onlineFixture,
  rolloutPausedFixture,
  updateCompletedFixture,
} from './translation-fixtures.js';

describe('translating audit events', () => {
  it('leaves actions that are not public events alone', () => {
    for (const action of ['fleet.created', 'api_key.created', 'member.added', 'toString', '']) {
      expect(
        translateAudit({ ...auditFixtures['release.created'], action }),
        action,
      ).toBeUndefined();
    }
  });

  it('derives the event id from the audit event id alone', () => {
    const record = auditFixtures['release.created'];
    const again = translateAudit({ ...record, summary: { ...record.summary, version: 4 } });
    expect(again?.id).toBe(translateAudit(record)?.id);
    expect(translateAudit({ ...record, id: 'c0ffee00-0000-4000-8000-999999999999' })?.id).not.toBe(
      translateAudit(record)?.id,
    );
  });

  it('never passes on summary fields the catalogue does not name', () => {
    const record = auditFixtures['device.deregistered'];
    const event = translateAudit({ ...record, summary: { ...record.summary, secret: 'x' } });
    expect(JSON.stringify(event)).not.toContain('secret');
    expect(publicEventProblem(event)).toBeUndefined();
  });

  it('builds an event the catalogue refuses when a summary lost a field', () => {
    const record = auditFixtures['release.created'];
    const { version: _, ...summary } = record.summary;
    expect(publicEventProblem(translateAudit({ ...record, summary }))).toMatch(/version/);
  });
});

describe('translating device messages', () => {
  it('gives one presence change one id, and the next change another', () => {
    expect(translateDeviceOnline(onlineFixture).id).toBe(translateDeviceOnline(onlineFixture).id);
    expect(translateDeviceOnline({ ...onlineFixture, at: '2026-11-22T18:05:00.000Z' }).id).not.toBe(
      translateDeviceOnline(onlineFixture).id,
    );
  });

  it('makes only update results public', () => {
    const progress = {
      ...updateCompletedFixture,
      event: {
        v: 1 as const,
        id: 'evt-9',
        occurred_at: updateCompletedFixture.received_at,
        type: 'update.progress' as const,
        release_id: 'r1',
        status: 'downloading' as const,
      },
    };
    expect(translateDeviceEvent(progress)).toBeUndefined();
    expect(translateDeviceEvent(updateCompletedFixture)?.type).toBe('update.completed');
  });
});

describe('translating rollout messages', () => {
  it('keeps a paused rollout internal', () => {
    expect(translateRollout(rolloutPausedFixture)).toBeUndefined();
  });
});
