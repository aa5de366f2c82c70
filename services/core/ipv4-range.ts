// IPv4 ranges in CIDR notation (RFC 4632), as numbers: what the app networks'
// address pool (BERTH_APP_NETWORKS) is, and what Docker networks' subnets are.

export interface Ipv4Range {
  /** The first address, as an unsigned 32-bit number. */
  readonly first: number;
  /** The prefix length, 0 to 32. */
  readonly bits: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** `a.b.c.d/n` as written (the address need not be the range's first); undefined for anything else. */
export function parseIpv4Range(text: string): { address: number; bits: number } | undefined {
  const m = CIDR.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1, 6);
  // No leading zeros: some parsers read 010 as octal, 8.
  if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
  const octets = parts.slice(0, 4).map(Number);
  const bits = Number(parts[4]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = octets;
  return { address: ((a << 24) >>> 0) + (b << 16) + (c << 8) + d, bits };
}

/** The number of addresses in a range of `bits`. */
export const rangeSize = (bits: number): number => 2 ** (32 - bits);

/** The range of `bits` that holds `address`. */
export const rangeOf = (address: number, bits: number): Ipv4Range => ({
  first: address - (address % rangeSize(bits)),
  bits,
});

export const formatAddress = (n: number): string =>
  [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export const formatRange = (r: Ipv4Range): string => `${formatAddress(r.first)}/${r.bits}`;

/** Whether two ranges share an address (CIDR ranges either nest or are apart). */
export const overlaps = (a: Ipv4Range, b: Ipv4Range): boolean =>
  a.first < b.first + rangeSize(b.bits) && b.first < a.first + rangeSize(a.bits);

/** Whether `inner` lies wholly inside `outer`. */
export const contains = (outer: Ipv4Range, inner: Ipv4Range): boolean =>
  inner.bits >= outer.bits && overlaps(outer, inner);

/** RFC 1918's private ranges: no host on the internet has an address in them. */
export const PRIVATE_RANGES: readonly Ipv4Range[] = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
].map((t) => {
  const p = parseIpv4Range(t) as { address: number; bits: number };
  return rangeOf(p.address, p.bits);
});
