/**
 * Who is asking, for per-client limits on routes without credentials (registration, failed
 * authentication, event streams).
 *
 * The address is the socket's peer, unless that peer is a configured proxy (`trustProxy`:
 * addresses or CIDR ranges): then `X-Forwarded-For` is read from the right, skipping trusted
 * proxies, and the first address that is not one is the client. Anyone can write that header,
 * so it is believed only from proxies the operator named; from anyone else it is ignored.
 *
 * Limits key on an address prefix, not the address: an IPv6 client usually holds a whole
 * /64, and an IPv4 attacker often a /24, so per-address limits would be per-attacker-wish.
 */
import { BlockList, isIP } from 'node:net';
import { CodedError } from '../../src/protocol/index.ts';

export interface ClientAddressOptions {
  /** Proxies whose X-Forwarded-For is believed, e.g. ['127.0.0.1', '10.0.0.0/8', '::1']. */
  trustProxy?: readonly string[];
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is. */
function unmap(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

export class ProxyConfigError extends CodedError<'BAD_TRUST_PROXY'> {
  override readonly name = 'ProxyConfigError';
  constructor(message: string) {
    super('BAD_TRUST_PROXY', message);
  }
}

function trustList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits, extra] = entry.trim().split('/');
    const kind = family(unmap(address));
    const prefix = bits === undefined ? undefined : Number(bits);
    const max = kind === 'ipv4' ? 32 : 128;
    if (
      !kind ||
      extra !== undefined ||
      (prefix !== undefined && (!Number.isInteger(prefix) || prefix < 0 || prefix > max))
    )
      throw new ProxyConfigError(
        `trustProxy entry "${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8)`,
      );
    if (prefix === undefined) list.addAddress(unmap(address), kind);
    else list.addSubnet(unmap(address), prefix, kind);
  }
  return list;
}

/** Resolves a request's client address from its peer and headers. */
export function clientAddressResolver(
  options: ClientAddressOptions = {},
): (peer: string | undefined, forwardedFor: string | undefined) => string {
  const trusted = options.trustProxy?.length ? trustList(options.trustProxy) : undefined;
  const isTrusted = (address: string) => {
    const kind = family(address);
    return kind !== undefined && trusted?.check(address, kind) === true;
  };
  return (peer, forwardedFor) => {
    let client = peer === undefined ? 'unknown' : unmap(peer);
    if (!trusted || !isTrusted(client) || !forwardedFor) return client;
    const hops = forwardedFor.split(',').map((hop) => unmap(hop.trim()));
    for (let i = hops.length - 1; i >= 0; i--) {
      // Garbage in the header ends the walk: the last address we could believe stands.
      if (!family(hops[i])) break;
      client = hops[i];
      if (!isTrusted(client)) break;
    }
    return client;
  };
}

/** Expands an IPv6 address to its eight groups. */
function ipv6Groups(address: string): number[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':'));
  let left = parse(head);
  let right = tail === undefined ? [] : parse(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4 style) is two groups.
  const lastOf = (groups: string[]) => groups[groups.length - 1] ?? '';
  const expandV4 = (groups: string[]) => {
    const last = lastOf(groups);
    if (!last.includes('.')) return groups;
    const [a, b, c, d] = last.split('.').map(Number);
    return [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  if (tail === undefined) left = expandV4(left);
  else right = expandV4(right);
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...new Array(missing).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
}

/**
 * The prefix a per-client limit keys on: IPv4 /24 (or `ipv4Bits`), IPv6 /64. Anything that
 * is not an IP address (no peer known) is its own key.
 */
export function addressPrefix(address: string, ipv4Bits = 24): string {
  const plain = unmap(address);
  const kind = family(plain);
  if (kind === 'ipv4') {
    const value = plain.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
    const masked = Math.floor(value / 2 ** (32 - ipv4Bits)) * 2 ** (32 - ipv4Bits);
    const parts = [24, 16, 8, 0].map((shift) => Math.floor(masked / 2 ** shift) % 256);
    return `${parts.join('.')}/${ipv4Bits}`;
  }
  if (kind === 'ipv6') {
    const groups = ipv6Groups(plain.split('%')[0]).slice(0, 4);
    return `${groups.map((g) => g.toString(16)).join(':')}::/64`;
  }
  return plain;
}
