import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** IPv4 ranges no webhook may reach: [network, prefix length, why]. */
const ipv4Ranges: readonly (readonly [string, number, string])[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** IPv6 ranges refused outright; those that embed an IPv4 address are judged by it below. */
const ipv6Ranges: readonly (readonly [string, number, string])[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['64:ff9b:1::', 48, 'reserved'],
  ['100::', 64, 'reserved'],
  ['2001::', 32, 'reserved'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

const blocks = new Map<string, BlockList>();
for (const [network, prefix, why] of ipv4Ranges) add(why, network, prefix, 'ipv4');
for (const [network, prefix, why] of ipv6Ranges) add(why, network, prefix, 'ipv6');

function add(why: string, network: string, prefix: number, family: 'ipv4' | 'ipv6'): void {
  const list = blocks.get(why) ?? new BlockList();
  list.addSubnet(network, prefix, family);
  blocks.set(why, list);
}

/** The eight 16-bit groups of an IPv6 address, a trailing dotted quad included. */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (quad !== undefined) {
    const [a, b, c, d] = quad.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -quad.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16));
}

function quadOf(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/**
 * The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 * A connection to any of them can end at that IPv4 address.
 */
function embeddedIpv4(groups: readonly number[]): string | undefined {
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = groups;
  const zeroUpTo = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (zeroUpTo(5) && (g5 === 0xffff || g5 === 0)) return quadOf(g6, g7);
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return quadOf(g6, g7);
  if (g0 === 0x2002) return quadOf(g1 ?? 0, g2 ?? 0);
  return undefined;
}

/**
 * Why an address may not receive webhooks (`loopback`, `private`, ...), or
 * undefined for a public unicast address. Anything that is not an IP
 * address is refused: only resolved addresses are judged here.
 */
export function forbiddenAddressReason(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (isIPv4(bare)) return reasonIn(bare, 'ipv4');
  if (!isIPv6(bare)) return 'not an IP address';
  const embedded = embeddedIpv4(ipv6Groups(bare));
  if (embedded !== undefined) {
    // :: and ::1 are IPv4-compatible in form; they are refused as themselves.
    return reasonIn(bare, 'ipv6') ?? reasonIn(embedded, 'ipv4') ?? undefined;
  }
  return reasonIn(bare, 'ipv6');
}

function reasonIn(address: string, family: 'ipv4' | 'ipv6'): string | undefined {
  for (const [why, list] of blocks) if (list.check(address, family)) return why;
  return undefined;
}
