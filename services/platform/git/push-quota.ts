// The two quotas a push meets (issue 16: one user's 1 GB push was taken, and
// nothing capped what their repositories hold), both counted against the
// app's owner like the other quotas:
//
// - disk: before git-receive-pack starts, the owner's repositories (the
//   pushed one measured afresh, the others as their last push left them) must
//   take less than the cap, else the push is refused with one line and git
//   never runs. A push that starts under the cap may end past it by what it
//   brings, at most the push-size cap (more when pushes to several apps run
//   at once); the next push is refused.
// - push-size: git itself refuses a pack past the cap while it streams
//   (receive.maxInputSize, given to receive-pack with -c): index-pack or
//   unpack-objects stops reading, git removes the quarantine and moves no
//   ref, the pre-receive hook never runs, so no build is queued. git's own
//   line ("pack exceeds maximum allowed size") says neither the cap nor what
//   to do, so the push also gets Berth's line, from what PackMeter counted.
import { BerthError } from '../../core/errors.ts';
import type { Store } from '../../core/store/index.ts';
import { describeSize } from '../../core/validate.ts';
import { recordRepoUsage } from './repo-usage.ts';
import type { RepoPaths } from './repos.ts';

export interface PushAdmission {
  owner: string;
  /** Bytes of pack this push may send; null: no cap. */
  pushSize: number | null;
  /** `-c` options for git-receive-pack that enforce it. */
  gitConfig: string[];
}

/**
 * Whether a push to `app` may start: measures the app's repository (and any
 * of the owner's never measured, such as those pushed before Berth counted
 * disk), records the figures, and throws BERTH_E_QUOTA when the owner's
 * repositories take their disk cap or more. Call it holding the app's lock,
 * so no other push to it is half done.
 */
export async function admitPush(
  store: Store,
  paths: RepoPaths,
  app: string,
): Promise<PushAdmission> {
  const caps = await store.quotas.pushCaps(app);
  let used = 0;
  for (const [name, figure] of Object.entries(caps.repos)) {
    used +=
      name === app || figure === undefined ? await recordRepoUsage(store, paths, name) : figure;
  }
  if (caps.disk !== null && used >= caps.disk) {
    throw new BerthError('BERTH_E_QUOTA', {
      user: caps.owner,
      quota: 'disk',
      cap: describeSize(caps.disk),
      reason: `the git repositories of the apps of ${caps.owner} take ${describeSize(used)}`,
      remedy: 'destroy an app no longer needed (apps:destroy) to free its repository',
    });
  }
  return {
    owner: caps.owner,
    pushSize: caps.pushSize,
    gitConfig: [
      // git reads 0 as no limit; a cap of 0 refuses any pack (a pack has a 12-byte header).
      ...(caps.pushSize === null ? [] : ['-c', `receive.maxInputSize=${caps.pushSize || 1}`]),
      // receive-pack's `gc --auto` runs before the push ends rather than in the
      // background, so the figure measured after the push is what stays.
      '-c',
      'gc.autoDetach=false',
    ],
  };
}

/**
 * The line for a push git refused as too large, when it was; undefined
 * otherwise. A pack past the cap is one git refused: it counts the same bytes.
 * (git's exit status cannot tell: receive-pack reports an unpacker error to
 * the client and exits 0.)
 */
export function pushSizeRefusal(
  admission: PushAdmission,
  meter: PackMeter,
): BerthError | undefined {
  const cap = admission.pushSize;
  if (cap === null || meter.packBytes <= cap) return undefined;
  return new BerthError('BERTH_E_QUOTA', {
    user: admission.owner,
    quota: 'push-size',
    cap: describeSize(cap),
    // Only the bytes that came before git stopped reading are known, not the
    // whole push (the client's own "Writing objects" line says how large it is).
    reason: `this push sends more than ${describeSize(cap)} of git objects`,
    remedy:
      'keep large files out of git (add them to .gitignore and take them out of the commits you push)',
  });
}

/**
 * Counts the pack bytes of a push as they arrive from the client (what
 * receive.maxInputSize counts), without holding them: the client sends its
 * commands as pkt-lines (four hex digits of length, then the line) up to a
 * flush-pkt "0000", then the pack. Berth advertises neither push options nor
 * signed pushes, so nothing else comes between. What does not parse as
 * pkt-lines is counted as pack, so the meter never counts less than git.
 */
export class PackMeter {
  packBytes = 0;
  private inPack = false;
  /** Hex digits of a length seen so far. */
  private header = '';
  /** Bytes of the current pkt-line's payload still to come. */
  private payload = 0;

  observe(chunk: Buffer): void {
    let i = 0;
    while (!this.inPack && i < chunk.length) {
      if (this.payload > 0) {
        const take = Math.min(this.payload, chunk.length - i);
        this.payload -= take;
        i += take;
        continue;
      }
      this.header += String.fromCharCode(chunk[i] ?? 0);
      i++;
      if (this.header.length < 4) continue;
      const length = /^[0-9a-f]{4}$/.test(this.header) ? Number.parseInt(this.header, 16) : -1;
      this.header = '';
      if (length === 0) this.inPack = true;
      else if (length >= 4) this.payload = length - 4;
      else {
        // Not a pkt-line: count the rest as pack.
        this.inPack = true;
        this.packBytes += 4;
      }
    }
    if (this.inPack) this.packBytes += chunk.length - i;
  }
}
