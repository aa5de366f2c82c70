// `ssh -p PORT berth@127.0.0.1 version` with the real OpenSSH client: the
// round trip a user feels on every command (connect, key exchange, key
// authentication, exec, exit status). Measured against the ssh
// service (its own Redis, a registered key) and, pair by pair in the same
// run, against a bare ssh2 server with the same host key that checks the one
// key it knows in memory: the difference is the cost of Berth's own work
// (the key lookup in Redis, limits, logging). Both set TCP_NODELAY; ssh2 on
// its own does not, and its default is measured too, for reference: Nagle's
// algorithm meets delayed ACKs there and stalls the exchange by ~40 ms steps.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { VERSION } from '../../../services/core/version.ts';
import { freePort } from '../../harness/ports.ts';
import { makeKeyPair } from '../../harness/ssh-keys.ts';
import { figure, type Scenario } from '../scenario.ts';
import { sshVersion, startBenchSshService } from '../ssh-service.ts';

const RUNS = 20;

/** The baseline: ssh2's minimal server, one allowed key checked in memory, `version` answered. */
function bareServer(hostKey: string, allowed: ssh2.ParsedKey) {
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey' || !ctx.key.data.equals(allowed.getPublicSSH())) {
        return ctx.reject(['publickey']);
      }
      if (
        ctx.signature &&
        ctx.blob &&
        allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true
      )
        return ctx.reject(['publickey']);
      ctx.accept();
    });
    client.on('session', (accept) => {
      accept().once('exec', (acceptExec) => {
        const channel = acceptExec();
        channel.write(`berth ${VERSION}\n`);
        channel.exit(0);
        channel.end();
      });
    });
  });
  return {
    /** Listens with ssh2's own TCP server (Nagle on) or one of ours with TCP_NODELAY. */
    async listen(port: number, noDelay: boolean): Promise<() => Promise<void>> {
      const tcp = noDelay
        ? net.createServer({ noDelay: true }, (socket) => server.injectSocket(socket))
        : server;
      await new Promise<void>((resolve) => tcp.listen(port, '127.0.0.1', () => resolve()));
      return () => new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

export const sshVersionScenario: Scenario = {
  name: 'ssh-version',
  description: `ssh berth@127.0.0.1 version (OpenSSH client), Berth vs a bare ssh2 server, ${RUNS} pairs`,
  async run(log) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-ssh-'));
    const stops: (() => Promise<void>)[] = [];
    try {
      const user = await makeKeyPair(dir, 'bench');
      const service = await startBenchSshService(dir, [
        { name: 'bench', role: 'admin', publicLine: user.publicLine },
      ]);
      stops.push(() => service.stop());
      const { config, hostKey } = service;

      const allowed = ssh2.utils.parseKey(user.publicLine);
      if (allowed instanceof Error) throw allowed;
      const bare = bareServer(await readFile(hostKey.path, 'utf8'), allowed);
      const barePort = await freePort();
      stops.push(await bare.listen(barePort, true));
      const naglePort = await freePort();
      stops.push(await bare.listen(naglePort, false));

      const knownHosts = path.join(dir, 'known_hosts');
      await writeFile(
        knownHosts,
        [config.sshPort, barePort, naglePort]
          .map((p) => `[127.0.0.1]:${p} ${hostKey.publicKey}\n`)
          .join(''),
      );
      const berthRun = () => sshVersion(config.sshPort, user.privatePath, knownHosts);
      const bareRun = () => sshVersion(barePort, user.privatePath, knownHosts);
      const nagleRun = () => sshVersion(naglePort, user.privatePath, knownHosts);
      // Warm up (JIT, Redis connection, page cache), unmeasured.
      await berthRun();
      await bareRun();
      await nagleRun();

      const berth: number[] = [];
      const baseline: number[] = [];
      const ratios: number[] = [];
      const nagle: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Alternate which goes first, so neither always gets the warmer machine.
        let b: number;
        let a: number;
        if (i % 2 === 0) {
          b = await berthRun();
          a = await bareRun();
        } else {
          a = await bareRun();
          b = await berthRun();
        }
        berth.push(b);
        baseline.push(a);
        ratios.push(b / a);
        nagle.push(await nagleRun());
        log(`pair ${i + 1}: Berth ${b.toFixed(1)} ms, bare ssh2 ${a.toFixed(1)} ms`);
      }
      return [
        figure('ssh version round trip, Berth', 'ms', berth),
        figure('ssh version round trip, bare ssh2 server', 'ms', baseline),
        figure('Berth / bare ssh2 (per pair)', 'ratio', ratios),
        figure('for reference: bare ssh2, Nagle on (its default)', 'ms', nagle),
      ];
    } finally {
      for (const stop of stops.reverse()) await stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
