// Image operations on the Docker Engine shared by the stack image and the
// builders: following a progress stream (pull, build, import) to its end,
// pulling with a deadline, tagging, removing and inspecting.
import type Docker from 'dockerode';
import { describeDockerError, dockerStatus } from './docker.ts';

export interface StreamEvent {
  status?: string;
  progress?: string;
  id?: string;
  stream?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Reads an Engine progress stream (pull, build, import) to its end. A failure
 * part-way arrives as an {"error": ...} event, not as an error of the stream,
 * so such an event rejects.
 */
export function followStream(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent: (event: StreamEvent) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (event: StreamEvent) => {
        if (event.error) reject(new Error(event.errorDetail?.message ?? event.error));
        else onEvent(event);
      },
    );
  });
}

export type PullResult = { ok: true } | { ok: false; reason: string };

/**
 * Pulls `ref`, giving up when the registry has not answered within
 * `firstAnswerMs` (a host without a registry fails at once or hangs) or when a
 * started pull stalls for a minute.
 */
export async function tryPull(
  docker: Docker,
  ref: string,
  firstAnswerMs: number,
  onLine: (line: string) => void,
): Promise<PullResult> {
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), firstAnswerMs);
  let answered = false;
  try {
    const stream = await docker.pull(ref, { abortSignal: abort.signal });
    const stalled = new Promise<never>((_, reject) =>
      abort.signal.addEventListener('abort', () => reject(new Error('stalled'))),
    );
    stalled.catch(() => {});
    const pulling = followStream(docker, stream, (event) => {
      answered = true;
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(), 60_000);
      onLine(
        `pull: ${event.id ? `${event.id} ` : ''}${event.status ?? ''} ${event.progress ?? ''}`,
      );
    });
    pulling.catch(() => {});
    await Promise.race([pulling, stalled]);
    return { ok: true };
  } catch (e) {
    const reason = abort.signal.aborted
      ? answered
        ? 'the pull stalled for 60 s'
        : `no answer from the registry within ${firstAnswerMs / 1000} s`
      : describeDockerError(e);
    return { ok: false, reason };
  } finally {
    clearTimeout(timer);
  }
}

/** repo[:tag] → repo and tag (a registry's :port is not a tag). */
export function splitImageRef(ref: string): { repo: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
}

export async function tagImage(docker: Docker, id: string, ref: string): Promise<void> {
  await docker.getImage(id).tag(splitImageRef(ref));
}

/** True when removed; false when the Engine refused (409: tagged elsewhere or in use). */
export async function removeImage(docker: Docker, id: string, force: boolean): Promise<boolean> {
  try {
    await docker.getImage(id).remove({ force });
    return true;
  } catch (e) {
    const status = dockerStatus(e);
    if (status === 409) return false;
    if (status === 404) return true;
    throw e;
  }
}

export async function inspectImage(
  docker: Docker,
  ref: string,
): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (e) {
    if (dockerStatus(e) === 404) return undefined;
    throw e;
  }
}

export interface CommitOptions {
  /** `repo:tag` of the new image. */
  ref: string;
  comment: string;
  /** The image's configuration; what it leaves out comes from the container's. */
  config: Record<string, unknown>;
}

/**
 * `docker commit`: the container's file system changes (never its mounts) as
 * a new image; resolves its id. dockerode sends `_query` as the query string
 * and `_body` as the JSON body, which is where the Engine reads the config.
 */
export async function commitContainer(
  container: Docker.Container,
  o: CommitOptions,
): Promise<string> {
  const { repo, tag } = splitImageRef(o.ref);
  const options = {
    _query: { container: container.id, repo, tag, comment: o.comment },
    _body: o.config,
  };
  const result = (await container.commit(options as Record<string, unknown>)) as { Id?: string };
  if (typeof result?.Id !== 'string')
    throw new Error(`docker commit gave no image id for ${o.ref}`);
  return result.Id;
}
