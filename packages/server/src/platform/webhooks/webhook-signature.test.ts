import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSigningSecret } from './signing-secret.js';
import { type WebhookSignatureHeaders, signWebhook } from './webhook-signature.js';

/**
 * A receiver's check written from the specification's text alone, apart from
 * the signer: strip `whsec_`, base64-decode the key, HMAC-SHA256 over
 * `msg_id.timestamp.payload`, compare with any `v1,` entry of the header.
 */
function verifiesPerSpec(secret: string, headers: WebhookSignatureHeaders, body: string): boolean {
  const key = Buffer.from(secret.substring('whsec_'.length), 'base64');
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = createHmac('sha256', key).update(signed, 'utf8').digest();
  return headers['webhook-signature'].split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const body = JSON.stringify({
  id: randomUUID(),
  type: 'device.online',
  data: { note: 'ünïcödé and "quotes" survive byte for byte' },
});

describe('Standard Webhooks signatures', () => {
  it('verify with the standardwebhooks library and with a check written from the spec', () => {
    const secret = generateSigningSecret();
    const id = randomUUID();
    const headers = signWebhook({ id, sentAt: new Date(), body, secrets: [secret] });

    expect(headers['webhook-id']).toBe(id);
    expect(headers['webhook-timestamp']).toMatch(/^\d{10}$/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(verifiesPerSpec(secret, headers, body)).toBe(true);
  });

  it('fail to verify when the body, the id, the timestamp or the secret differ', () => {
    const secret = generateSigningSecret();
    const headers = signWebhook({ id: randomUUID(), sentAt: new Date(), body, secrets: [secret] });
    const library = new Webhook(secret);

    expect(() => library.verify(`${body} `, { ...headers })).toThrow();
    expect(() => library.verify(body, { ...headers, 'webhook-id': randomUUID() })).toThrow();
    const earlier = String(Number(headers['webhook-timestamp']) - 1);
    expect(() => library.verify(body, { ...headers, 'webhook-timestamp': earlier })).toThrow();
    expect(() => new Webhook(generateSigningSecret()).verify(body, { ...headers })).toThrow();
    expect(verifiesPerSpec(generateSigningSecret(), headers, body)).toBe(false);
    expect(verifiesPerSpec(secret, headers, `${body} `)).toBe(false);
  });

  it('carry one signature per secret during a rotation, each verifying on its own', () => {
    const current = generateSigningSecret();
    const previous = generateSigningSecret();
    const headers = signWebhook({
      id: randomUUID(),
      sentAt: new Date(),
      body,
      secrets: [current, previous],
    });

    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    for (const secret of [current, previous]) {
      expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
      expect(verifiesPerSpec(secret, headers, body)).toBe(true);
    }
    expect(verifiesPerSpec(generateSigningSecret(), headers, body)).toBe(false);
  });

  it('stamp the send time in whole seconds', () => {
    const headers = signWebhook({
      id: randomUUID(),
      sentAt: new Date('2026-11-22T18:00:00.999Z'),
      body,
      secrets: [generateSigningSecret()],
    });
    expect(headers['webhook-timestamp']).toBe(String(Date.parse('2026-11-22T18:00:00Z') / 1000));
  });

  it('refuse to sign without a secret', () => {
    expect(() => signWebhook({ id: randomUUID(), sentAt: new Date(), body, secrets: [] })).toThrow(
      'needs a secret',
    );
  });
});
