// One datastore's data into another server of its kind: the kind's dump
// run in the source's container piped into its restore in the target's,
// both with `docker exec` over their local sockets (no password travels,
// nothing touches the host's disk). upgrade and clone are made of it.
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { execStream, lastLine } from './data.ts';
import type { DatastoreKind } from './kind.ts';

/** The dump's and the restore's outcome: undefined when both exited 0, else why not. */
export async function copyData(
  kind: DatastoreKind,
  from: Docker.Container,
  to: Docker.Container,
  signal: AbortSignal,
): Promise<{ failed: string | undefined; bytes: number }> {
  const pipe = new PassThrough();
  let bytes = 0;
  pipe.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  // The restore reads what the dump writes; a dump that fails part way
  // leaves a restore that may have succeeded on what came, so both exit
  // codes are looked at, and a failed copy is thrown away by the caller.
  const counted = new PassThrough();
  pipe.pipe(counted);
  const restore = execStream(to, kind.restoreCommand, { stdin: counted, stdout: sink() }, signal);
  const dump = execStream(from, kind.dumpCommand, { stdout: pipe }, signal).finally(() =>
    pipe.end(),
  );
  const [d, r] = await Promise.allSettled([dump, restore]);
  if (d.status === 'rejected') return { failed: `its dump failed: ${reason(d.reason)}`, bytes };
  if (d.value.exitCode !== 0) {
    return {
      failed: `its dump failed (exit ${d.value.exitCode}): ${lastLine(d.value.stderr)}`,
      bytes,
    };
  }
  if (r.status === 'rejected') return { failed: `the restore failed: ${reason(r.reason)}`, bytes };
  if (r.value.exitCode !== 0) {
    return {
      failed: `the restore failed (exit ${r.value.exitCode}): ${lastLine(r.value.stderr) || 'no message'}`,
      bytes,
    };
  }
  return { failed: undefined, bytes };
}

const reason = (e: unknown) =>
  (e instanceof Error ? e.message : String(e)).replace(/^\(HTTP code \d+\) [a-z ]+ - /, '');

/** Where the restore's own output goes: nowhere (its errors are on stderr). */
function sink(): NodeJS.WritableStream {
  const s = new PassThrough();
  s.resume();
  return s;
}
