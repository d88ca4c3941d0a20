import { describe, expect, it } from 'vitest';
import { publicEventId } from './event-id.js';

describe('publicEventId', () => {
  it('computes RFC 9562 version 5 UUIDs', () => {
    // The RFC's DNS namespace example, computed by Python's uuid.uuid5.
    expect(publicEventId('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('is stable per source and distinct across sources', () => {
    expect(publicEventId('audit:1')).toBe(publicEventId('audit:1'));
    expect(publicEventId('audit:1')).not.toBe(publicEventId('audit:2'));
  });
});
