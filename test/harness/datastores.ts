// Datastores for tests: what a test's datastore left on the Engine goes by
// its name (the container, its networks, the volume), found by Berth's own
// labels. The kind's image is kept, as the stack image is: building it takes
// a minute or two, once.
import type Docker from 'dockerode';
import { LABELS } from '../../services/core/docker.ts';
import { VERIFY_LABEL } from '../../services/platform/datastores/backup-verify.ts';

export async function removeDatastoreFromEngine(
  docker: Docker,
  kind: string,
  name: string,
): Promise<void> {
  const filters = { label: [`${LABELS.datastore}=${kind}`, `${LABELS.datastoreName}=${name}`] };
  // And the scratch containers `backup --verify` restores into.
  const verifying = { label: [`${VERIFY_LABEL}=${name}`] };
  const containers = [
    ...(await docker.listContainers({ all: true, filters })),
    ...(await docker.listContainers({ all: true, filters: verifying })),
  ];
  for (const c of containers) {
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => {});
  }
  for (const n of await docker.listNetworks({ filters })) {
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => {});
  }
  for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
    await docker
      .getVolume(v.Name)
      .remove()
      .catch(() => {});
  }
}
