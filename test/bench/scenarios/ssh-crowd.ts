// An admin's `ssh ... version` (the OpenSSH client) while one user holds 256
// idle `ssh -N` connections and an anonymous flood from 10 loopback
// addresses keeps 300 connections open that never sign in (each reopened as
// soon as the server drops it), against the same command with nothing else
// happening, pair by pair. The real ssh service with its default limits
// (services/ssh/limits.ts). The bar (the tenants issue): under 1 s.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { opensshArgs } from '../../harness/ssh.ts';
import { makeKeyPair } from '../../harness/ssh-keys.ts';
import { figure, type Scenario } from '../scenario.ts';
import { sshVersion, startBenchSshService } from '../ssh-service.ts';

const RUNS = 10;
const IDLE_SESSIONS = 256;
const FLOOD = 300;
const SOURCES = 10;

/** Connections that never sign in, each reopened when it is dropped, until stopped. */
function flood(port: number) {
  let stopped = false;
  const sockets = new Set<net.Socket>();
  const open = (i: number) => {
    if (stopped) return;
    const socket = net.connect({
      port,
      host: '127.0.0.1',
      localAddress: `127.0.0.${2 + (i % SOURCES)}`,
    });
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      // Reopened at once, as a flood would; setImmediate keeps it from starving the loop.
      setImmediate(() => open(i));
    });
  };
  for (let i = 0; i < FLOOD; i++) open(i);
  return {
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

export const sshCrowdScenario: Scenario = {
  name: 'ssh-crowd',
  description: `an admin's ssh version, idle vs with one user's ${IDLE_SESSIONS} idle ssh -N and ${FLOOD} anonymous connections from ${SOURCES} addresses, ${RUNS} pairs`,
  async run(log) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-crowd-'));
    const stops: (() => unknown)[] = [];
    const held: ChildProcess[] = [];
    try {
      const [admin, crowd] = await Promise.all([
        makeKeyPair(dir, 'admin'),
        makeKeyPair(dir, 'crowd'),
      ]);
      if (!admin || !crowd) throw new Error('no keys');
      const service = await startBenchSshService(dir, [
        { name: 'admin', role: 'admin', publicLine: admin.publicLine },
        { name: 'crowd', role: 'user', publicLine: crowd.publicLine },
      ]);
      stops.push(() => service.stop());
      const { config, hostKey } = service;
      const knownHosts = path.join(dir, 'known_hosts');
      await writeFile(knownHosts, `[127.0.0.1]:${config.sshPort} ${hostKey.publicKey}\n`);
      const port = config.sshPort;
      await sshVersion(port, admin.privatePath, knownHosts); // warm-up

      // The user's idle connections, a few at a time so each signs in.
      for (let i = 0; i < IDLE_SESSIONS; i++) {
        const child = spawn(
          'ssh',
          ['-N', ...opensshArgs({ port, key: crowd.privatePath, knownHosts }), 'berth@127.0.0.1'],
          { stdio: 'ignore' },
        );
        held.push(child);
        if (i % 16 === 15) await sleep(300);
      }
      await sleep(2000);
      const alive = held.filter((c) => c.exitCode === null && c.signalCode === null).length;
      log(`${IDLE_SESSIONS} ssh -N started; ${alive} still connected`);

      const idle: number[] = [];
      const crowded: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        idle.push(await sshVersion(port, admin.privatePath, knownHosts));
        const f = flood(port);
        await sleep(500);
        try {
          crowded.push(await sshVersion(port, admin.privatePath, knownHosts));
        } finally {
          f.stop();
        }
        log(
          `pair ${i + 1}: idle ${Math.round(idle.at(-1) ?? 0)} ms, crowded ${Math.round(crowded.at(-1) ?? 0)} ms`,
        );
      }
      return [
        figure('admin ssh version, nothing else', 'ms', idle),
        figure(`admin ssh version, ${IDLE_SESSIONS} idle + ${FLOOD} flooding`, 'ms', crowded),
        figure(
          'crowded / nothing else (per pair)',
          'ratio',
          crowded.map((c, i) => c / (idle[i] ?? c)),
        ),
        figure("the user's ssh -N still connected", 'count', [alive]),
      ];
    } finally {
      for (const c of held) c.kill();
      for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  },
};
