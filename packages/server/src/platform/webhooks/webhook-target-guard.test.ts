import { once } from 'node:events';
import { type IncomingMessage, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { forbiddenAddressReason } from './forbidden-address.js';
import { type Resolver, WebhookTargetGuard } from './webhook-target-guard.js';

describe('forbidden webhook addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['2002:c0a8:0101::1', 'private'],
    ['2001:db8::1', 'documentation'],
    ['[::1]', 'loopback'],
    ['localhost', 'not an IP address'],
  ])('%s is refused as %s', (address, reason) => {
    expect(forbiddenAddressReason(address)).toBe(reason);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:0808:0808::1',
  ])('%s is a public address', (address) => {
    expect(forbiddenAddressReason(address)).toBeUndefined();
  });
});

const publicResolver: Resolver = () => Promise.resolve([{ address: '93.184.215.14', family: 4 }]);

describe('webhook target guard', () => {
  const guard = new WebhookTargetGuard({ allowPrivate: false });

  it.each([
    ['not a url', 'absolute'],
    ['ftp://example.com/hook', 'http or https'],
    ['file:///etc/passwd', 'http or https'],
    ['https://user:pw@example.com/hook', 'credentials'],
    ['http://127.0.0.1:8080/hook', 'loopback address (127.0.0.1)'],
    ['http://2130706433/hook', 'loopback'],
    ['http://0x7f.1/hook', 'loopback'],
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'link-local'],
    ['http://localhost:9/hook', 'loopback address (localhost is'],
  ])('refuses %s', async (url, reason) => {
    expect(await guard.refusal(url)).toContain(reason);
  });

  it('refuses a host that does not resolve, naming it', async () => {
    expect(await guard.refusal('https://no-such-host.invalid/hook')).toContain(
      'no-such-host.invalid does not resolve',
    );
  });

  it('refuses a host when any one of its addresses is private', async () => {
    const mixed = new WebhookTargetGuard({
      allowPrivate: false,
      resolve: () =>
        Promise.resolve([
          { address: '93.184.215.14', family: 4 },
          { address: '10.0.0.7', family: 4 },
        ]),
    });
    expect(await mixed.refusal('https://mixed.example/hook')).toContain('private address');
  });

  it('accepts public hosts, and private ones when they are allowed', async () => {
    const resolvedPublic = new WebhookTargetGuard({ allowPrivate: false, resolve: publicResolver });
    expect(await resolvedPublic.refusal('https://hooks.example.com/flock')).toBeUndefined();
    expect(await guard.refusal('http://8.8.8.8/hook')).toBeUndefined();
    const open = new WebhookTargetGuard({ allowPrivate: true });
    expect(await open.refusal('http://127.0.0.1:8080/hook')).toBeUndefined();
    expect(await open.refusal('http://localhost:8080/hook')).toBeUndefined();
    expect(await open.refusal('ftp://localhost/hook')).toContain('http or https');
  });

  it('connects only to the addresses it checked, so a rebinding name never reaches a private one', async () => {
    const receiver = createServer((_req, res) => res.end('reached'));
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const { port } = receiver.address() as AddressInfo;
    // The first answer is public (the subscription was accepted), the next is loopback.
    const answers = ['93.184.215.14', '127.0.0.1'];
    const rebinding = new WebhookTargetGuard({
      allowPrivate: false,
      resolve: () => Promise.resolve([{ address: answers.shift() ?? '127.0.0.1', family: 4 }]),
    });
    try {
      expect(await rebinding.refusal(`http://rebind.example:${port}/`)).toBeUndefined();
      const outcome = await new Promise<string>((resolve) => {
        const req = request(
          { host: 'rebind.example', port, path: '/', lookup: rebinding.lookup },
          (res: IncomingMessage) => resolve(`answered ${res.statusCode}`),
        );
        req.on('error', (error) => resolve(error.message));
        req.end();
      });
      expect(outcome).toContain('must not point at a loopback address');

      const allowed = new WebhookTargetGuard({ allowPrivate: true });
      const reached = await new Promise<number | undefined>((resolve, reject) => {
        const req = request({ host: 'localhost', port, path: '/', lookup: allowed.lookup }, (res) =>
          resolve(res.statusCode),
        );
        req.on('error', reject);
        req.end();
      });
      expect(reached).toBe(200);
    } finally {
      receiver.close();
    }
  });
});
