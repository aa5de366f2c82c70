// Where an app's images go so that every Swarm node can pull them, and the
// push that puts them there: the app's registry:set server when it has one
// (with its registry:login credentials), else Berth's own registry
// (BERTH_SWARM_REGISTRY, ./own-registry.ts), else nowhere (the image must be
// on the nodes already, as before there was a registry).
//
// A release's image berth/<app>:<build id> goes to <server>/<repo>:<build id>,
// <repo> the app's image-repo (default berth/<app>), plus the push-extra-tags;
// an image of another name (a deploy of an image as it is) to
// <server>/<repo>:id-<12 hex of its id>. The push is skipped when the
// registry has the tag already (a restart, a scale, a rollback).
import type Docker from 'dockerode';
import { describeDockerError } from '../../core/docker.ts';
import {
  followStream,
  inspectImage,
  type StreamEvent,
  tagImage,
} from '../../core/docker-images.ts';
import { BerthError } from '../../core/errors.ts';
import * as validate from '../../core/validate.ts';
import { appImageRepo } from '../build/image-names.ts';
import { ensureOwnRegistry } from './own-registry.ts';
import { hasTag, type RegistryAuth, type RegistryClient } from './registry-api.ts';
import { computed, loginFor, readSettings } from './settings.ts';

export interface DistributionOptions {
  /** Berth's Engine, where the images are built and pushed from. */
  docker: Docker;
  /** BERTH_SWARM_REGISTRY; undefined: no registry of Berth's own. */
  ownRegistry?: string;
  /** <data>/registry: the own registry's files and the registry:* settings. */
  dir?: string;
  /** More labels on the registry's container and volume (tests). */
  labels?: Readonly<Record<string, string>>;
}

/** What a Swarm service is made with: the reference the nodes pull, and how. */
export interface DistributedImage {
  ref: string;
  /** The X-Registry-Auth of the service (docker service create --with-registry-auth). */
  auth?: RegistryAuth;
  /** The image's own config (entry point, user), from Berth's Engine. */
  inspect?: Docker.ImageInspectInfo;
}

export interface ImageTarget {
  client: RegistryClient;
  repo: string;
  extraTags: string[];
  /** Berth's own registry (retention prunes it), not an external one. */
  own: boolean;
}

export class ImageDistribution {
  constructor(private readonly o: DistributionOptions) {}

  /** The registry the app's images go to; undefined: none. */
  async target(app: string, onLine?: (line: string) => void): Promise<ImageTarget | undefined> {
    validate.appName(app);
    const settings = this.o.dir ? await readSettings(this.o.dir) : undefined;
    const server = settings ? computed(settings, app, 'server') : '';
    const repo = (settings && computed(settings, app, 'image-repo')) || appImageRepo(app);
    const extraTags = (settings ? computed(settings, app, 'push-extra-tags') : '')
      .split(',')
      .filter(Boolean);
    if (server !== '' && settings) {
      const login = loginFor(settings, app, server);
      return {
        client: {
          server,
          ...(login ? { auth: { ...login, serveraddress: server } } : {}),
        },
        repo,
        extraTags,
        own: false,
      };
    }
    if (this.o.ownRegistry === undefined || this.o.dir === undefined) return undefined;
    const client = await ensureOwnRegistry({
      docker: this.o.docker,
      address: this.o.ownRegistry,
      dir: this.o.dir,
      ...(this.o.labels ? { labels: this.o.labels } : {}),
      ...(onLine ? { onLine } : {}),
    });
    return { client, repo, extraTags, own: true };
  }

  /** The tag an image has in the registry. */
  static remoteTag(app: string, image: string, id: string): string {
    const repo = `${appImageRepo(app)}:`;
    return image.startsWith(repo)
      ? validate.imageTag(image.slice(repo.length))
      : `id-${id.slice(7, 19)}`;
  }

  /**
   * The image as the nodes pull it, pushed first when the registry does
   * not have it; progress lines to `onLine`. BERTH_E_REGISTRY_PUSH when the push fails.
   */
  async distribute(
    app: string,
    image: string,
    onLine?: (line: string) => void,
  ): Promise<DistributedImage> {
    const inspect = await inspectImage(this.o.docker, image);
    const target = await this.target(app, onLine);
    if (target === undefined || inspect === undefined) {
      return { ref: image, ...(inspect ? { inspect } : {}) };
    }
    const tag = ImageDistribution.remoteTag(app, image, inspect.Id);
    const name = `${target.client.server}/${target.repo}`;
    const ref = `${name}:${tag}`;
    const auth = target.client.auth;
    const done = { ref, inspect, ...(auth ? { auth } : {}) };
    if (await hasTag(target.client, target.repo, tag).catch(() => false)) return done;
    const started = Date.now();
    for (const t of [tag, ...target.extraTags]) {
      onLine?.(`Pushing ${image} to ${name}:${t}`);
      await this.push(app, inspect.Id, `${name}:${t}`, auth, onLine);
    }
    onLine?.(`Pushed to ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return done;
  }

  private async push(
    app: string,
    id: string,
    ref: string,
    auth: RegistryAuth | undefined,
    onLine?: (line: string) => void,
  ): Promise<void> {
    const server = ref.slice(0, ref.indexOf('/'));
    try {
      await tagImage(this.o.docker, id, validate.imageRef(ref));
      const stream = (await this.o.docker
        .getImage(ref)
        .push(auth ? { authconfig: auth } : {})) as unknown as NodeJS.ReadableStream;
      // Layer by layer: the bytes of those being pushed, a line every 2 s at most.
      const layers = new Map<string, { current: number; total: number; done: boolean }>();
      let last = 0;
      await followStream(
        this.o.docker,
        stream,
        (e: StreamEvent & { progressDetail?: { current?: number; total?: number } }) => {
          if (!e.id) return;
          const l = layers.get(e.id) ?? { current: 0, total: 0, done: false };
          if (e.status === 'Pushing' && e.progressDetail?.total) {
            l.current = e.progressDetail.current ?? 0;
            l.total = e.progressDetail.total;
          }
          if (e.status === 'Pushed' || e.status === 'Layer already exists') l.done = true;
          layers.set(e.id, l);
          if (Date.now() - last < 2000) return;
          last = Date.now();
          const done = [...layers.values()].filter((x) => x.done).length;
          const mb = [...layers.values()].reduce((n, x) => n + (x.done ? 0 : x.current), 0) / 1e6;
          onLine?.(
            `push: ${done}/${layers.size} layers${mb > 0 ? `, ${mb.toFixed(1)} MB of the rest sent` : ''}`,
          );
        },
      );
    } catch (e) {
      const reason = describeDockerError(e);
      throw new BerthError(
        'BERTH_E_REGISTRY_PUSH',
        {
          image: ref,
          server,
          app,
          reason: /x509|certificate/i.test(reason)
            ? `${reason} (Docker on this machine does not trust the registry: copy its CA to /etc/docker/certs.d/${server}/ca.crt)`
            : reason,
        },
        { cause: e },
      );
    }
  }
}
