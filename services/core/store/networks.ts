// Shared networks (network:create): made by an admin, joined by the apps
// whose owners ask (network:set APP attach-post-deploy NAME). The record is
// here; the scheduler makes the network itself when an instance first joins.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import type { StoreContext } from './context.ts';
import { decode, type SharedNetwork, SharedNetworkSchema } from './records.ts';

export class Networks {
  constructor(private readonly ctx: StoreContext) {}

  /** Records a new network; BERTH_E_NETWORK_EXISTS when one has the name. */
  async create(name: string, by: string): Promise<SharedNetwork> {
    const network = {
      name: validate.networkName(name),
      createdAt: this.ctx.now().toISOString(),
      by,
    };
    const added = await this.ctx.redis.hsetnx(
      this.ctx.keys.networks,
      name,
      JSON.stringify(network),
    );
    if (added === 0) throw new BerthError('BERTH_E_NETWORK_EXISTS', { network: name });
    return network;
  }

  /** The network named `name`, or undefined. */
  async get(name: string): Promise<SharedNetwork | undefined> {
    const raw = await this.ctx.redis.hget(this.ctx.keys.networks, validate.networkName(name));
    return raw === null ? undefined : this.decode(raw);
  }

  /** Every shared network, by name. */
  async list(): Promise<SharedNetwork[]> {
    const all = await this.ctx.redis.hvals(this.ctx.keys.networks);
    return all.map((raw) => this.decode(raw)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes the record; false when there was none. */
  async remove(name: string): Promise<boolean> {
    return (await this.ctx.redis.hdel(this.ctx.keys.networks, validate.networkName(name))) === 1;
  }

  /** Puts a removed record back as it was (a destroy that found the network joined meanwhile). */
  async restore(network: SharedNetwork): Promise<void> {
    await this.ctx.redis.hsetnx(this.ctx.keys.networks, network.name, JSON.stringify(network));
  }

  private decode(raw: string): SharedNetwork {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    return decode(SharedNetworkSchema, this.ctx.keys.networks, parsed);
  }
}
