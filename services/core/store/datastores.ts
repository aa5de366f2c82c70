// Datastores (postgres:create and its kin): the record of each, and the apps
// each is linked to. The container and volume are the platform's
// (services/platform/datastores/); this is what Berth remembers of them.
// A datastore with links cannot be removed: the check and the removal are
// one Lua step, so a link made meanwhile is never left pointing at nothing.
import { BerthError } from '../errors.ts';
import * as validate from '../validate.ts';
import type { StoreContext } from './context.ts';
import { Script } from './lua.ts';
import {
  DATASTORE_KINDS,
  type Datastore,
  type DatastoreKindName,
  DatastoreSchema,
  decode,
} from './records.ts';

/** One link: the app and the alias its config var is named by (`<ALIAS>_URL`). */
export interface DatastoreLink {
  app: string;
  alias: string;
}

// ARGV: kind, name. Removes the record unless it has links: then their apps.
const removeScript = new Script(
  'datastores.remove',
  `
local kind, name = ARGV[2], ARGV[3]
local apps = redis.call('HKEYS', K.datastoreLinks(kind, name))
if #apps > 0 then return {'linked', unpack(apps)} end
return {'ok', redis.call('HDEL', K.datastores(kind), name)}
`,
);

// ARGV: kind, name, app, alias. Adds the link while the record exists and
// the app is not linked to it yet.
const linkScript = new Script(
  'datastores.link',
  `
local kind, name, app, alias = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', K.datastores(kind), name) == 0 then return {'ok', 'gone'} end
if redis.call('HSETNX', K.datastoreLinks(kind, name), app, alias) == 0 then
  return {'ok', 'linked', redis.call('HGET', K.datastoreLinks(kind, name), app)}
end
return {'ok', 'added'}
`,
);

// ARGV: kind, name, record (JSON). Replaces the record while it exists.
const replaceScript = new Script(
  'datastores.replace',
  `
local kind, name, record = ARGV[2], ARGV[3], ARGV[4]
if redis.call('HEXISTS', K.datastores(kind), name) == 0 then return {'ok', 'gone'} end
redis.call('HSET', K.datastores(kind), name, record)
return {'ok', 'replaced'}
`,
);

export class Datastores {
  constructor(private readonly ctx: StoreContext) {}

  /** Records a new datastore; BERTH_E_DATASTORE_EXISTS when its kind has one of the name. */
  async create(record: Datastore, title: string): Promise<Datastore> {
    const checked = decode(DatastoreSchema, this.ctx.keys.datastores(record.kind), record);
    const added = await this.ctx.redis.hsetnx(
      this.ctx.keys.datastores(checked.kind),
      checked.name,
      JSON.stringify(checked),
    );
    if (added === 0) {
      throw new BerthError('BERTH_E_DATASTORE_EXISTS', {
        title,
        name: checked.name,
        kind: checked.kind,
      });
    }
    return checked;
  }

  /** The datastore, or undefined. */
  async get(kind: DatastoreKindName, name: string): Promise<Datastore | undefined> {
    const raw = await this.ctx.redis.hget(
      this.ctx.keys.datastores(kind),
      validate.datastoreName(name),
    );
    return raw === null ? undefined : this.decode(kind, raw);
  }

  /** Every datastore of a kind (every kind: none given), by name. */
  async list(kind?: DatastoreKindName): Promise<Datastore[]> {
    const all: Datastore[] = [];
    for (const k of kind === undefined ? DATASTORE_KINDS : [kind]) {
      const raws = await this.ctx.redis.hvals(this.ctx.keys.datastores(k));
      all.push(...raws.map((raw) => this.decode(k, raw)));
    }
    return all.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }

  /**
   * Removes the record; the apps it is linked to instead (nothing removed)
   * while it has links; [] when removed or already gone.
   */
  async remove(kind: DatastoreKindName, name: string): Promise<string[]> {
    const reply = (await removeScript.raw(this.ctx, [kind, validate.datastoreName(name)])) as [
      string,
      ...unknown[],
    ];
    return reply[0] === 'linked' ? reply.slice(1).map(String).sort() : [];
  }

  /**
   * Where expose publishes it (undefined: nowhere): the record with it, or
   * undefined when the datastore is gone meanwhile.
   */
  async setExposed(ds: Datastore, exposed: Datastore['exposed']): Promise<Datastore | undefined> {
    const { exposed: _old, ...rest } = ds;
    const record = decode(DatastoreSchema, this.ctx.keys.datastores(ds.kind), {
      ...rest,
      ...(exposed ? { exposed } : {}),
    });
    const [status] = await replaceScript.run(this.ctx, [
      record.kind,
      validate.datastoreName(record.name),
      JSON.stringify(record),
    ]);
    return status === 'replaced' ? record : undefined;
  }

  /**
   * The record as `ds` has it now (upgrade: its version and volume), while
   * the datastore exists; undefined when it is gone meanwhile.
   */
  async replace(ds: Datastore): Promise<Datastore | undefined> {
    const record = decode(DatastoreSchema, this.ctx.keys.datastores(ds.kind), ds);
    const [status] = await replaceScript.run(this.ctx, [
      record.kind,
      validate.datastoreName(record.name),
      JSON.stringify(record),
    ]);
    return status === 'replaced' ? record : undefined;
  }

  /** The datastore's links, by app. */
  async links(kind: DatastoreKindName, name: string): Promise<DatastoreLink[]> {
    const all = await this.ctx.redis.hgetall(
      this.ctx.keys.datastoreLinks(kind, validate.datastoreName(name)),
    );
    return Object.entries(all)
      .map(([app, alias]) => ({ app, alias }))
      .sort((a, b) => a.app.localeCompare(b.app));
  }

  /**
   * Adds a link: 'added'; 'gone' when the datastore no longer exists;
   * otherwise the alias the app is already linked by.
   */
  async addLink(
    kind: DatastoreKindName,
    name: string,
    link: DatastoreLink,
  ): Promise<{ added: true } | { added: false; gone: true } | { added: false; alias: string }> {
    const [status, alias] = await linkScript.run(this.ctx, [
      kind,
      validate.datastoreName(name),
      validate.appName(link.app),
      validate.linkAlias(link.alias),
    ]);
    if (status === 'added') return { added: true };
    if (status === 'gone') return { added: false, gone: true };
    return { added: false, alias: String(alias) };
  }

  /** Removes a link; false when there was none. */
  async removeLink(kind: DatastoreKindName, name: string, app: string): Promise<boolean> {
    return (
      (await this.ctx.redis.hdel(
        this.ctx.keys.datastoreLinks(kind, validate.datastoreName(name)),
        app,
      )) === 1
    );
  }

  /** Every datastore linked to `app`, with the alias of each link. */
  async linksOf(app: string): Promise<{ datastore: Datastore; alias: string }[]> {
    const found: { datastore: Datastore; alias: string }[] = [];
    for (const datastore of await this.list()) {
      const alias = await this.ctx.redis.hget(
        this.ctx.keys.datastoreLinks(datastore.kind, datastore.name),
        app,
      );
      if (alias !== null) found.push({ datastore, alias });
    }
    return found;
  }

  private decode(kind: DatastoreKindName, raw: string): Datastore {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    return decode(DatastoreSchema, this.ctx.keys.datastores(kind), parsed);
  }
}
