// The docker-local scheduler's networks. Each app has a bridge network of
// its own (`<prefix>.<app>`), so an app's instances reach each other by
// their aliases and no other app's: Docker's iptables rules drop traffic
// between bridges. The router and the startup checks run on the host, which
// reaches every bridge, so nothing joins an app's network to serve it. Apps
// meet only on a shared network an admin made (`<prefix>.net.<name>`,
// network:create) that both their owners attached them to.
//
// Docker's default address pools hold about 31 bridge networks, far too few
// for one per app, so Berth gives each network a /26 of its own pool
// (BERTH_APP_NETWORKS): the first one no Docker network on the Engine uses.
import type Docker from 'dockerode';
import { dockerStatus, LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { BerthError } from '../../core/errors.ts';
import {
  formatRange,
  type Ipv4Range,
  overlaps,
  parseIpv4Range,
  rangeOf,
  rangeSize,
} from '../../core/ipv4-range.ts';
import * as validate from '../../core/validate.ts';
import type { NetworkInfo } from './scheduler.ts';

/** What Docker answers a create whose subnet another network took meanwhile. */
const POOL_OVERLAP = /overlaps/i;

export class DockerNetworks {
  private readonly pool: Ipv4Range;

  constructor(
    private readonly docker: Docker,
    private readonly o: {
      /** Every network's name starts with it (DockerLocal's `network`). */
      prefix: string;
      /** BERTH_APP_NETWORKS, validated. */
      pool: string;
      labels: Readonly<Record<string, string>>;
    },
  ) {
    const p = parseIpv4Range(validate.addressPool(o.pool));
    if (p === undefined) throw new Error(`not an address pool: ${o.pool}`);
    this.pool = rangeOf(p.address, p.bits);
  }

  /** The app's own network's name (app names have no dots, so none is a shared one's). */
  appName(app: string): string {
    return `${this.o.prefix}.${validate.appName(app)}`;
  }

  /** A shared network's name on the Engine. */
  sharedName(name: string): string {
    return `${this.o.prefix}.net.${validate.networkName(name)}`;
  }

  /** The app's network, made when missing; its name. */
  async ensureApp(app: string): Promise<string> {
    const name = this.appName(app);
    await this.ensure(name, { [LABELS.app]: app });
    return name;
  }

  /** A shared network, made when missing; its name. */
  async ensureShared(network: string): Promise<string> {
    const name = this.sharedName(network);
    await this.ensure(name, { [LABELS.network]: network });
    return name;
  }

  /**
   * A datastore's own network (services/platform/datastores/), the only one
   * it is on until it is linked to an app; made when missing; its name. No
   * app's name has a dot, so none is an app's.
   */
  async ensureDatastore(kind: string, name: string): Promise<string> {
    const net = this.datastoreName(kind, name);
    await this.ensure(net, { [LABELS.datastore]: kind, [LABELS.datastoreName]: name });
    return net;
  }

  datastoreName(kind: string, name: string): string {
    return `${this.o.prefix}.datastore.${kind}.${validate.datastoreName(name)}`;
  }

  /** The network as it is now, or undefined when it does not exist. */
  async info(name: string): Promise<NetworkInfo | undefined> {
    try {
      const n = await this.docker.getNetwork(name).inspect();
      return {
        name,
        subnet: n.IPAM?.Config?.[0]?.Subnet,
        members: Object.values((n.Containers ?? {}) as Record<string, { Name?: string }>)
          .map((c) => c.Name ?? '')
          .sort(),
      };
    } catch (e) {
      if (dockerStatus(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Removes a network no container is on; BERTH_E_NETWORK_IN_USE, naming the
   * containers, while some are. Nothing to do when it is gone already.
   */
  async remove(name: string, shownAs: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (e) {
      if (dockerStatus(e) === 404) return;
      const members = (await this.info(name))?.members ?? [];
      if (members.length === 0) throw e;
      throw new BerthError('BERTH_E_NETWORK_IN_USE', {
        network: shownAs,
        users: `running containers (${members.slice(0, 5).join(', ')}${members.length > 5 ? ', ...' : ''})`,
      });
    }
  }

  /** `name`, made with a subnet of the pool when missing (two at once: the second finds it). */
  private async ensure(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getNetwork(name).inspect();
      return;
    } catch (e) {
      if (dockerStatus(e) !== 404) throw e;
    }
    const taken = await this.subnetsInUse();
    const count = rangeSize(this.pool.bits) / rangeSize(validate.APP_SUBNET_BITS);
    for (let i = 0; i < count; i++) {
      const subnet = {
        first: this.pool.first + i * rangeSize(validate.APP_SUBNET_BITS),
        bits: validate.APP_SUBNET_BITS,
      };
      if (taken.some((t) => overlaps(t, subnet))) continue;
      try {
        await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: formatRange(subnet) }] },
          Labels: { ...MANAGED_LABELS, ...this.o.labels, ...labels },
        });
        return;
      } catch (e) {
        // Another process made this network meanwhile.
        if (dockerStatus(e) === 409) return;
        // Another network took the subnet meanwhile (two apps' first
        // instances at once, or another Berth on the Engine): the next one.
        if (POOL_OVERLAP.test((e as Error).message)) continue;
        throw e;
      }
    }
    throw new BerthError('BERTH_E_NETWORK_POOL_FULL', {
      pool: formatRange(this.pool),
      count,
      network: name,
    });
  }

  /** The IPv4 subnets of every network on the Engine, Berth's or not. */
  private async subnetsInUse(): Promise<Ipv4Range[]> {
    const ranges: Ipv4Range[] = [];
    for (const n of await this.docker.listNetworks()) {
      for (const c of n.IPAM?.Config ?? []) {
        const p = parseIpv4Range(c.Subnet ?? '');
        if (p) ranges.push(rangeOf(p.address, p.bits));
      }
    }
    return ranges;
  }
}
