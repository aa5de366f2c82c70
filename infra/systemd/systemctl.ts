// Asking systemd about Berth's unit: whether systemd runs this machine at
// all, and systemctl with an argument array (never a shell). On a machine
// without systemd as PID 1 (a container, these test machines) systemctl
// still reads and changes unit files (is-enabled, enable, disable) but
// cannot start, stop or reload anything.
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { findProgram } from '../../services/core/programs.ts';

export interface SystemdState {
  /** systemd is PID 1 (sd_booted(3): /run/systemd/system exists). */
  running: boolean;
  /** What PID 1 is, for the message that says systemd is not running. */
  pid1: string;
}

export async function systemdState(): Promise<SystemdState> {
  const running = await access('/run/systemd/system').then(
    () => true,
    () => false,
  );
  const pid1 = (await readFile('/proc/1/comm', 'utf8').catch(() => 'unknown')).trim();
  return { running, pid1 };
}

/** Why a command that needs a running systemd cannot work here. */
export const notRunning = (s: SystemdState) => `systemd is not running here (PID 1 is ${s.pid1})`;

export interface SystemctlResult {
  ok: boolean;
  /** stdout's first line: is-enabled and is-active print the state there. */
  state: string;
  /** What it said, one line (stderr first). */
  said: string;
}

/** Stops take up to the unit's TimeoutStopSec (60 s). */
const SYSTEMCTL_LIMIT_MS = 120_000;

export class Systemctl {
  private constructor(private readonly file: string) {}

  /** The systemctl in the search path; undefined when there is none. */
  static async find(searchPath: string): Promise<Systemctl | undefined> {
    const file = await findProgram('systemctl', searchPath);
    return file === undefined ? undefined : new Systemctl(file);
  }

  run(args: readonly string[]): Promise<SystemctlResult> {
    return new Promise((resolve) => {
      execFile(
        this.file,
        ['--no-ask-password', ...args],
        {
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
          timeout: SYSTEMCTL_LIMIT_MS,
        },
        (error, stdout, stderr) => {
          const lines = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim());
          resolve({
            ok: error === null,
            state: stdout.split('\n')[0]?.trim() ?? '',
            said: lines.filter((l) => l !== '').join('; ') || (error?.message ?? ''),
          });
        },
      );
    });
  }
}
