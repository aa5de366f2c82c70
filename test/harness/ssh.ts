// The real OpenSSH client as tests and benchmarks run it: no user config, one
// identity, and a known_hosts file holding only the server's key, so a
// changed host key fails the connection.
export interface OpenSshTarget {
  port: number | string;
  /** Path of the private key. */
  key: string;
  /** A known_hosts file with the server's host key line. */
  knownHosts: string;
}

/** Options for `ssh` before the destination. */
export function opensshOptions(t: Omit<OpenSshTarget, 'port'>): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    t.key,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${t.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
  ];
}

/** `ssh -p PORT <options>` as argv. */
export function opensshArgs(t: OpenSshTarget): string[] {
  return ['-p', String(t.port), ...opensshOptions(t)];
}

/** The same as one command string, for git's core.sshCommand (test paths have no spaces). */
export function opensshCommand(t: Omit<OpenSshTarget, 'port'>): string {
  return ['ssh', ...opensshOptions(t)].join(' ');
}
