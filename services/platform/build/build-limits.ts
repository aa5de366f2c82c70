// What a build may use of the machine: memory per build, processes of all
// builds together, half the CPU weight of an app instance, and a network of
// its own. A build runs a tenant's code (RUN steps, buildpack scripts) on the
// shared machine, so without these one user's build can fork-bomb or starve
// everyone, or reach another build in flight.
//
// The Engine's build API takes memory and CPU shares per build but no process
// limit; the processes are limited by the parent cgroup every build container
// is made under (`cgroupparent`), which Berth makes with pids.max where the
// Engine uses the cgroupfs driver (v1 or v2). Under the systemd driver that
// parent would be a systemd slice, which only systemd can limit: builds then
// run without a process limit, and the builder says so at start.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { BuildLimits } from '../../core/config.ts';
import { BATCH_CPU_SHARES, dockerStatus, MANAGED_LABELS } from '../../core/docker.ts';

/** The network builds run on: a bridge whose containers cannot reach one another, nor the apps' networks. */
export const BUILD_NETWORK = 'berth-builds';

/** What every build container gets. */
export interface BuildResources extends BuildLimits {
  /** The parent cgroup that holds the process limit of all builds; undefined: none. */
  cgroupParent?: string;
  network: string;
}

/** The builds' network, made when missing (with inter-container traffic off). */
export async function ensureBuildNetwork(
  docker: Docker,
  labels: Readonly<Record<string, string>> = {},
  name = BUILD_NETWORK,
): Promise<string> {
  try {
    await docker.getNetwork(name).inspect();
  } catch (e) {
    if (dockerStatus(e) !== 404) throw e;
    await docker
      .createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Options: { 'com.docker.network.bridge.enable_icc': 'false' },
        Labels: { ...MANAGED_LABELS, ...labels },
      })
      .catch((err: unknown) => {
        if (dockerStatus(err) !== 409) throw err;
      });
  }
  return name;
}

/**
 * Makes the parent cgroup of build containers with `pids` as its process
 * limit; resolves the `cgroupparent` to build with, or why there is none.
 * `root` is where the cgroup file systems are mounted; `name` the cgroup.
 */
export async function prepareBuildCgroup(
  docker: Docker,
  pids: number,
  o: { root?: string; name?: string } = {},
): Promise<{ parent: string | undefined; note: string }> {
  if (pids === 0) return { parent: undefined, note: 'BERTH_BUILD_PIDS is 0: no process limit' };
  const root = o.root ?? '/sys/fs/cgroup';
  const name = o.name ?? 'berth-builds';
  const info = (await docker.info()) as { CgroupDriver?: string; CgroupVersion?: string };
  if (info.CgroupDriver !== 'cgroupfs') {
    return {
      parent: undefined,
      note: `the Docker Engine uses the ${info.CgroupDriver ?? 'unknown'} cgroup driver: builds run without a process limit`,
    };
  }
  try {
    if (info.CgroupVersion === '2') {
      const dir = path.join(root, name);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'pids.max'), String(pids));
      // Docker makes each container's cgroup below this one, with the controllers it enables here.
      const controllers = (await readFile(path.join(dir, 'cgroup.controllers'), 'utf8')).trim();
      const wanted = controllers.split(/\s+/).filter((c) => ['cpu', 'memory', 'pids'].includes(c));
      if (wanted.length > 0) {
        await writeFile(
          path.join(dir, 'cgroup.subtree_control'),
          wanted.map((c) => `+${c}`).join(' '),
        );
      }
    } else {
      const dir = path.join(root, 'pids', name);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'pids.max'), String(pids));
    }
  } catch (e) {
    return {
      parent: undefined,
      note: `the builds' cgroup could not be made (${(e as Error).message}): builds run without a process limit`,
    };
  }
  return { parent: `/${name}`, note: `builds together may run ${pids} processes` };
}

/** The build API's options for these resources (a Dockerfile build's steps). */
export function buildOptions(r: BuildResources | undefined): Record<string, string | number> {
  if (r === undefined) return {};
  return {
    networkmode: r.network,
    cpushares: BATCH_CPU_SHARES,
    ...(r.memory > 0 ? { memory: r.memory, memswap: r.memory } : {}),
    ...(r.cgroupParent ? { cgroupparent: r.cgroupParent } : {}),
  };
}

/** A build container's HostConfig for these resources (a buildpack build). */
export function buildHostConfig(r: BuildResources | undefined): Docker.HostConfig {
  if (r === undefined) return {};
  return {
    NetworkMode: r.network,
    CpuShares: BATCH_CPU_SHARES,
    ...(r.memory > 0 ? { Memory: r.memory, MemorySwap: r.memory } : {}),
    ...(r.pids > 0 ? { PidsLimit: r.pids } : {}),
    ...(r.cgroupParent ? { CgroupParent: r.cgroupParent } : {}),
  };
}
