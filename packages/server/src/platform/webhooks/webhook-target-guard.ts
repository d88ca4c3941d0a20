import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { forbiddenAddressReason } from './forbidden-address.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to, as the operating system resolves it. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export class WebhookTargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookTargetRefused';
  }
}

/**
 * Keeps webhooks away from the installation's own network (SSRF): a URL must
 * be http or https, carry no credentials, and every address its host
 * resolves to must be public, unless private targets are allowed
 * (FLOCK_WEBHOOKS_ALLOW_PRIVATE, for tests and closed networks).
 *
 * `refusal` judges a URL when a subscription is written; `lookup` judges
 * again when a connection is opened and hands the socket exactly the
 * addresses it judged, so a name that resolves differently later (DNS
 * rebinding) never reaches an address nobody checked.
 */
export class WebhookTargetGuard {
  private readonly allowPrivate: boolean;
  private readonly resolve: Resolver;

  constructor(options: { allowPrivate: boolean; resolve?: Resolver }) {
    this.allowPrivate = options.allowPrivate;
    this.resolve = options.resolve ?? systemResolver;
  }

  /** Why this URL may not receive webhooks, in words for a problem document; undefined when it may. */
  async refusal(url: string): Promise<string | undefined> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'must be an absolute http or https URL';
    }
    const syntax = this.syntaxRefusal(parsed);
    if (syntax !== undefined) return syntax;
    try {
      await this.addressesOf(parsed.hostname);
      return undefined;
    } catch (error) {
      if (error instanceof WebhookTargetRefused) return error.message;
      throw error;
    }
  }

  /** The checks that need no resolving; the sender applies them to every request. */
  syntaxRefusal(url: URL): string | undefined {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
    if (url.username !== '' || url.password !== '') return 'must not contain credentials';
    if (url.hostname === '') return 'must name a host';
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(literal) === 0) return undefined;
    const reason = this.forbidden(literal);
    return reason === undefined ? undefined : `must not point at a ${reason} address (${literal})`;
  }

  /** For http.Agent and net.connect: resolve, judge every address, connect only to those. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.addressesOf(hostname).then(
      (addresses) => {
        const wanted =
          options.family === 4 || options.family === 6
            ? addresses.filter((a) => a.family === options.family)
            : addresses;
        if (wanted.length === 0) {
          callback(new WebhookTargetRefused(`${hostname} has no IPv${options.family} address`), '');
        } else if (options.all === true) {
          callback(null, wanted);
        } else {
          callback(null, wanted[0]!.address, wanted[0]!.family);
        }
      },
      (error: unknown) =>
        callback(
          error instanceof Error ? (error as NodeJS.ErrnoException) : new Error(String(error)),
          '',
        ),
    );
  };

  private forbidden(address: string): string | undefined {
    return this.allowPrivate ? undefined : forbiddenAddressReason(address);
  }

  private async addressesOf(hostname: string): Promise<ResolvedAddress[]> {
    const literal = hostname.replace(/^\[|\]$/g, '');
    let addresses: ResolvedAddress[];
    if (isIP(literal) !== 0) {
      addresses = [{ address: literal, family: isIP(literal) }];
    } else {
      try {
        addresses = await this.resolve(literal);
      } catch (error) {
        throw new WebhookTargetRefused(
          `host ${literal} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    if (addresses.length === 0) throw new WebhookTargetRefused(`host ${literal} has no address`);
    // One bad address refuses the host: the socket may try any of them.
    for (const { address } of addresses) {
      const reason = this.forbidden(address);
      if (reason !== undefined) {
        throw new WebhookTargetRefused(
          `must not point at a ${reason} address (${literal === address ? address : `${literal} is ${address}`})`,
        );
      }
    }
    return addresses;
  }
}
