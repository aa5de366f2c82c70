// backup --verify: a dump restored into a scratch server of the same image,
// which has no network, its own random password and no volume (its data
// goes with the container, removed after), then checked: the kind's restore
// must succeed and, where the kind counts (kind.ts countCommands), the
// scratch server must hold as many tables (keys, ...) as the dump's own
// table of contents names. A dump cut short, damaged or not a dump fails
// one of the two. The service itself is not touched.

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { CONFINED, LABELS, MANAGED_LABELS } from '../../core/docker.ts';
import { execInContainer } from '../../core/docker-exec.ts';
import { errorLine } from '../../core/errors.ts';
import type { Datastore } from '../../core/store/index.ts';
import { execStream, lastLine } from './data.ts';
import { imageRef } from './image.ts';
import { type DatastoreKind, databaseName, ENTRYPOINT } from './kind.ts';
import { kindVersion } from './kinds.ts';
import type { EngineDeps } from './server.ts';

/** How long the scratch server has to answer, and the restore to finish. */
const READY_MS = 60_000;
const RESTORE_MS = 30 * 60_000;
/** Made in the scratch container once init is done. */
const READY_MARK = '/tmp/berth-verify-ready';

export interface Verification {
  ok: boolean;
  /** What was checked, or why it failed. */
  detail: string;
  durationMs: number;
}

/** Labels the scratch container carries: Berth's, the datastore's kind, and what it is for. */
export const VERIFY_LABEL = 'berth.datastore.verify';

export async function verifyDump(
  d: EngineDeps,
  kind: DatastoreKind,
  ds: Pick<Datastore, 'kind' | 'name' | 'version' | 'memory'>,
  file: string,
  signal: AbortSignal,
): Promise<Verification> {
  const started = Date.now();
  const done = (ok: boolean, detail: string): Verification => ({
    ok,
    detail,
    durationMs: Date.now() - started,
  });
  const image = imageRef(kind, kindVersion(kind, ds.version));
  // init reads its password on stdin, as every kind's does (kind.ts); the
  // scratch server's is random and never leaves it.
  // init may run the server for a while itself (postgres' does, to make the
  // database): the health check counts only once the marker says the real
  // server is starting.
  const script = `od -An -N16 -tx1 /dev/urandom | tr -d ' \\n' | ${ENTRYPOINT} init >/dev/null && touch ${READY_MARK} && exec ${ENTRYPOINT} serve`;
  const container = await d.docker.createContainer({
    name: `berth-${kind.name}-${ds.name}-verify-${randomBytes(3).toString('hex')}`,
    Image: image,
    Cmd: ['sh', '-c', script],
    Env: [`BERTH_DATABASE=${databaseName(ds.name)}`],
    Labels: {
      ...MANAGED_LABELS,
      ...d.labels,
      [LABELS.datastore]: kind.name,
      [VERIFY_LABEL]: ds.name,
    },
    HostConfig: {
      NetworkMode: 'none',
      Memory: ds.memory,
      MemorySwap: ds.memory,
      PidsLimit: 512,
      ...CONFINED,
    },
  });
  try {
    await container.start();
    const until = Date.now() + READY_MS;
    for (;;) {
      signal.throwIfAborted();
      const state = (await container.inspect()).State;
      if (!state.Running) return done(false, `the scratch server stopped (exit ${state.ExitCode})`);
      const r = await execInContainer(
        container,
        ['sh', '-c', `test -e ${READY_MARK} && exec "$@"`, 'sh', ...kind.healthCommand],
        {
          signal: AbortSignal.timeout(10_000),
        },
      ).catch(() => ({ exitCode: -1 }));
      if (r.exitCode === 0) break;
      if (Date.now() > until) return done(false, 'the scratch server never answered');
      await new Promise((r) => setTimeout(r, 250));
    }
    const limit = AbortSignal.any([signal, AbortSignal.timeout(RESTORE_MS)]);
    let expected: number | undefined;
    if (kind.countCommands) {
      const out = collect();
      const r = await execStream(
        container,
        kind.countCommands.dump,
        { stdin: createReadStream(file), stdout: out.stream },
        limit,
      );
      if (r.exitCode !== 0 || !/^[0-9]+$/.test(out.text().trim())) {
        return done(
          false,
          `its table of contents cannot be read: ${lastLine(r.stderr) || `exit ${r.exitCode}`}`,
        );
      }
      expected = Number(out.text().trim());
    }
    const restored = await execStream(
      container,
      kind.restoreCommand,
      { stdin: createReadStream(file), stdout: collect().stream },
      limit,
    );
    if (restored.exitCode !== 0) {
      return done(
        false,
        `its restore failed: ${lastLine(restored.stderr) || `exit ${restored.exitCode}`}`,
      );
    }
    if (kind.countCommands && expected !== undefined) {
      const out = collect();
      const r = await execStream(container, kind.countCommands.live, { stdout: out.stream }, limit);
      const count = Number(out.text().trim());
      if (r.exitCode !== 0 || !/^[0-9]+$/.test(out.text().trim())) {
        return done(false, `counting what was restored failed: ${lastLine(r.stderr)}`);
      }
      if (count !== expected) {
        return done(false, `${count} tables restored where the dump names ${expected}`);
      }
      return done(true, `restored into a scratch server: ${count} tables, as the dump names`);
    }
    return done(true, 'restored into a scratch server');
  } catch (e) {
    if (signal.aborted) throw e;
    return done(false, errorLine(e).slice(0, 300));
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** A small in-memory sink for a command's output. */
function collect(max = 64 * 1024) {
  let text = '';
  return {
    stream: {
      write(chunk: Buffer | string) {
        if (text.length < max) text += chunk.toString();
        return true;
      },
      end() {},
      on() {},
      once() {},
      emit() {},
    } as unknown as NodeJS.WritableStream,
    text: () => text,
  };
}
