import { BlockList, isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { ProxySettings } from './proxy-settings.js';

/** An IPv4-mapped IPv6 address as the IPv4 one it maps (how node reports IPv4 peers on a dual-stack socket). */
function plain(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * The client's address as nginx's realip module finds it: a peer in set_real_ip_from is believed about
 * the client, through real_ip_header; X-Forwarded-For's last address is taken, or with real_ip_recursive
 * the last one that is not itself trusted. An address that does not parse ends the walk.
 */
export class RealIp {
  private readonly trusted = new BlockList();
  private readonly header: 'x-forwarded-for' | 'x-real-ip';

  constructor(private readonly settings: Pick<ProxySettings, 'realIpFrom' | 'realIpHeader' | 'realIpRecursive'>) {
    for (const cidr of settings.realIpFrom) {
      const slash = cidr.indexOf('/');
      const address = slash < 0 ? cidr : cidr.slice(0, slash);
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      const bits = slash < 0 ? (family === 'ipv6' ? 128 : 32) : Number(cidr.slice(slash + 1));
      this.trusted.addSubnet(address, bits, family);
    }
    this.header = settings.realIpHeader === 'X-Real-IP' ? 'x-real-ip' : 'x-forwarded-for';
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client address of a request from `peer` with these headers. */
  clientOf(peer: string, headers: IncomingHttpHeaders): string {
    const from = plain(peer);
    if (!this.isTrusted(from)) return from;
    const value = headers[this.header];
    if (value === undefined) return from;
    const items = (Array.isArray(value) ? value.join(',') : value).split(',').map((item) => plain(item.trim()));
    let client = from;
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      if (isIP(item) === 0) break;
      client = item;
      if (!this.settings.realIpRecursive || !this.isTrusted(item)) break;
    }
    return client;
  }
}
