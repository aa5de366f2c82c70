// One-off runs on the swarm scheduler: `run`, run:detached, cron jobs and
// the release phase (Procfile `release:`, app.json's scripts) each as a
// Swarm job, a service in `replicated-job` mode (API 1.41) of one task that
// runs once to its end and never restarts, with the release's image, config,
// limits and placement as its instances have them (swarm.ts serviceSpec).
//
// Its output comes back through the manager (the task's logs, followed), its
// exit code from the task's status, and the service is removed afterwards,
// which stops the task if it still runs (an abort, a timeout). The task may
// run on any node, so there is nothing to attach to: a run with the client's
// terminal is refused (BERTH_E_SWARM_NO_TERMINAL), and a run without one gets
// no stdin. A detached run's service stays until its task ended; the
// scheduler's watch removes it then (removeFinishedJobs).
import type { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { LABELS } from '../../core/docker.ts';
import { streamLines } from '../../core/docker-exec.ts';
import { BerthError } from '../../core/errors.ts';
import type { InstanceSpec, OneOffResult } from './scheduler.ts';

export type OneOffKind = 'attached' | 'detached';

/** What a one-off needs of the swarm scheduler. */
export interface JobHost {
  docker(): Promise<Docker>;
  /** Makes the one-off's service (swarm.ts serviceSpec, with the registry's credentials); its id. */
  createService(spec: InstanceSpec, oneOff: OneOffKind): Promise<string>;
  /** How long its task may take to start (its image's pull included). */
  startTimeoutMs: number;
}

/** Where a one-off's output goes: line by line, or as it comes to the client's streams. */
export type JobOutput =
  | { onLine: (line: string) => void }
  | { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream };

type JobTask = {
  ID: string;
  CreatedAt: string;
  Status: {
    State: string;
    Timestamp?: string;
    Err?: string;
    ContainerStatus?: { ExitCode?: number };
  };
};

/** A task that ran (its container started), whatever came of it. */
const STARTED = new Set(['running', 'complete', 'failed', 'shutdown']);
/** A task that will not run again. */
const ENDED = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);

/** How long a one-off's last output may take to come through the manager after it ended. */
const OUTPUT_DRAIN_MS = 2000;
/** A finished attached run's service whose runner went away (Berth restarted) is removed after this. */
const ABANDONED_MS = 10 * 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tasksOf(docker: Docker, serviceId: string): Promise<JobTask[]> {
  return (await docker.listTasks({ filters: { service: [serviceId] } })) as unknown as JobTask[];
}

async function createJob(host: JobHost, spec: InstanceSpec, kind: OneOffKind) {
  const docker = await host.docker();
  const id = await host.createService(spec, kind);
  return { docker, id };
}

/** The job's task once it started (or ended); BERTH_E_INSTANCE_START when it could not. */
async function awaitStart(
  docker: Docker,
  serviceId: string,
  spec: InstanceSpec,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<JobTask> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const task = (await tasksOf(docker, serviceId)).sort((a, b) =>
      a.CreatedAt.localeCompare(b.CreatedAt),
    )[0];
    if (task && STARTED.has(task.Status.State) && !startFailed(task)) return task;
    if ((task && (task.Status.State === 'rejected' || startFailed(task))) || Date.now() > end) {
      throw new BerthError('BERTH_E_INSTANCE_START', {
        app: spec.app,
        type: spec.type,
        reason:
          task?.Status.Err ??
          `its task did not start within ${Math.round(timeoutMs / 1000)} s (${task?.Status.State ?? 'no task'})`,
      });
    }
    await sleep(250);
  }
}

/** Failed before its process ran: no exit code of its own (a missing image, a bad command). */
const startFailed = (t: JobTask) =>
  t.Status.State === 'failed' && !t.Status.ContainerStatus?.ExitCode;

/** Waits for the task to end; its exit code. Polls less often the longer it runs (a cron job may run for hours). */
async function awaitEnd(docker: Docker, serviceId: string, taskId: string, signal: AbortSignal) {
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    signal.throwIfAborted();
    const task = (await tasksOf(docker, serviceId)).find((t) => t.ID === taskId);
    if (task === undefined) throw new Error(`the one-off's task ${taskId} is gone`);
    if (ENDED.has(task.Status.State)) {
      if (task.Status.State === 'complete') return 0;
      return task.Status.ContainerStatus?.ExitCode || 1;
    }
    await sleep(wait);
  }
}

/**
 * Runs `spec` once as a Swarm job to its end: its output to `out` as it
 * comes, then its exit code; the service is removed afterwards. Aborting
 * `signal` removes it at once (the task gets SIGTERM, then SIGKILL after
 * its stop timeout) and rejects.
 */
export async function runJob(
  host: JobHost,
  spec: InstanceSpec,
  out: JobOutput,
  signal: AbortSignal,
): Promise<OneOffResult> {
  signal.throwIfAborted();
  const { docker, id } = await createJob(host, spec, 'attached');
  const service = docker.getService(id);
  const remove = () => service.remove().catch(() => {});
  signal.addEventListener('abort', remove, { once: true });
  let stream: (NodeJS.ReadableStream & { destroy(): void }) | undefined;
  try {
    const task = await awaitStart(docker, id, spec, host.startTimeoutMs, signal);
    // Followed from its first line: what it wrote before this call comes too.
    stream = (await (
      docker.getTask(task.ID) as unknown as { logs(o: Record<string, unknown>): Promise<unknown> }
    ).logs({
      stdout: true,
      stderr: true,
      follow: true,
      timestamps: false,
    })) as NodeJS.ReadableStream & {
      destroy(): void;
    };
    const lines: string[] = [];
    let ended: Promise<void>;
    if ('onLine' in out) {
      ended = streamLines(docker.modem, stream, (line) => {
        // Only the last lines are kept: a cron run may write for a day.
        if (lines.push(line) > 20) lines.shift();
        out.onLine(line);
      }).catch(() => {});
    } else {
      const s = stream;
      ended = new Promise<void>((resolve) => {
        s.once('end', resolve);
        s.once('close', resolve);
        s.once('error', () => resolve());
      });
      docker.modem.demuxStream(s, out.stdout as Writable, out.stderr as Writable);
    }
    const exitCode = await awaitEnd(docker, id, task.ID, signal);
    // A followed task log does not end with the task: its last lines are waited for a moment.
    await Promise.race([ended, sleep(OUTPUT_DRAIN_MS)]);
    signal.throwIfAborted();
    return { exitCode, lines };
  } finally {
    stream?.destroy();
    signal.removeEventListener('abort', remove);
    await remove();
  }
}

/** Starts `spec` once as a Swarm job and leaves it running; its service's name. */
export async function startDetachedJob(host: JobHost, spec: InstanceSpec): Promise<string> {
  const { docker, id } = await createJob(host, spec, 'detached');
  const service = docker.getService(id);
  try {
    await awaitStart(docker, id, spec, host.startTimeoutMs);
  } catch (e) {
    await service.remove().catch(() => {});
    throw e;
  }
  const info = (await service.inspect()) as { Spec: { Name: string } };
  return info.Spec.Name;
}

/**
 * Removes the services of one-offs that ended: detached runs at once, an
 * attached run's after ABANDONED_MS (its runner removes it itself, unless
 * Berth stopped meanwhile). The number removed.
 */
export async function removeFinishedJobs(docker: Docker): Promise<number> {
  const services = (await docker.listServices({
    filters: { label: [`${LABELS.managed}=true`, LABELS.oneOff] },
  })) as unknown as { ID: string; Spec: { Labels?: Record<string, string> } }[];
  let removed = 0;
  for (const s of services) {
    const tasks = await tasksOf(docker, s.ID).catch(() => undefined);
    if (tasks === undefined || tasks.length === 0) continue;
    if (!tasks.every((t) => ENDED.has(t.Status.State))) continue;
    const last = Math.max(...tasks.map((t) => Date.parse(t.Status.Timestamp ?? '') || 0));
    const detached = s.Spec.Labels?.[LABELS.oneOff] === 'detached';
    if (!detached && Date.now() - last < ABANDONED_MS) continue;
    await docker
      .getService(s.ID)
      .remove()
      .then(() => removed++)
      .catch(() => {});
  }
  return removed;
}
