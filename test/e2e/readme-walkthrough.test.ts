// README.md's first-deploy walkthrough, run from the README itself: the
// blocks its source marks `<!-- walkthrough: ... -->` (read by
// test/harness/readme-walkthrough.ts), in order. `npm start` as the README
// gives it, then each command with the real ssh, git and curl, by sh, as a
// person types it, and what it prints checked against the lines the README
// shows under it.
//
// What the test changes, and only that: the ports (free ones instead of
// 2222, 8080, 9180, and the router's 80 and 443 reached by curl's connect-to),
// the key's path, the data directory, and the app names (hello, shop: a name
// of this run's own, since an app's images, containers and network are named
// after it on a Docker Engine other tests share). berth.example.com and its
// subdomains reach 127.0.0.1 through an ssh config (`ssh -F FILE`, and git's
// GIT_SSH_COMMAND) and a .curlrc, as DNS records would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { removeAppFromEngine, testDocker } from '../harness/docker.ts';
import { type Platform, startPlatform } from '../harness/platform.ts';
import {
  missingOutput,
  readWalkthrough,
  type WalkthroughCommand,
} from '../harness/readme-walkthrough.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';
import { tempDir } from '../harness/tmp.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOST = 'berth.example.com';
const COMMAND_TIMEOUT_MS = 180_000;

/** The README's default ports, as they appear in its commands and output. */
const DEFAULT_PORTS = {
  ssh: '2222',
  web: '8080',
  metrics: '9180',
} as const;

interface Ran {
  code: number | null;
  lines: string[];
  cwd: string;
}

/** `line` by sh in `cwd`, as typed at a prompt; resolves with its output and the directory it ended in. */
function runLine(line: string, cwd: string, env: NodeJS.ProcessEnv, pwdFile: string) {
  return new Promise<Ran>((resolve, reject) => {
    const child = spawn('sh', ['-c', `${line}\nstatus=$?\npwd > '${pwdFile}'\nexit $status`], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    // Lines as they arrive, from stdout and stderr alike (git push writes
    // its remote's lines to stderr), as a terminal shows them.
    const rests: string[] = [];
    const split = (stream: NodeJS.ReadableStream, n: number) => {
      rests[n] = '';
      stream.on('data', (d: Buffer) => {
        const parts = (rests[n] + d.toString()).split('\n');
        rests[n] = parts.pop() ?? '';
        lines.push(...parts.map((l) => l.replace(/\r$/, '')));
      });
    };
    split(child.stdout, 0);
    split(child.stderr, 1);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${line}: no end after ${COMMAND_TIMEOUT_MS} ms:\n${lines.join('\n')}`));
    }, COMMAND_TIMEOUT_MS);
    child.on('close', async (code) => {
      clearTimeout(timer);
      // A last line without a newline (curl of a JSON body) is a line too.
      lines.push(...rests.filter((r) => r !== ''));
      const pwd = (await readFile(pwdFile, 'utf8').catch(() => cwd)).trim();
      resolve({ code, lines, cwd: pwd });
    });
  });
}

describe("README.md's first-deploy walkthrough", () => {
  test('runs as written and prints what the README shows', { timeout: 600_000 }, async (t) => {
    const steps = readWalkthrough(await readFile(path.join(ROOT, 'README.md'), 'utf8'));
    const commands = steps.flatMap((s) => ('commands' in s ? s.commands : []));
    // The walkthrough is there: a test of nothing would pass too.
    for (const must of ['npm start', 'ssh-keys:add', 'apps:create', 'git push', 'curl']) {
      assert.ok(
        commands.some((c) => c.line.includes(must)),
        `the walkthrough has no "${must}"`,
      );
    }

    const dir = await tempDir();
    const dataDir = path.join(dir, 'data');
    const laptop = path.join(dir, 'laptop');
    await mkdir(laptop);
    const key = await makeKeyPair(dir, 'id_ed25519');
    const suffix = randomBytes(3).toString('hex');
    const apps = { hello: `hello-${suffix}`, shop: `shop-${suffix}` };
    let platform: Platform | undefined;
    // Berth first (it would start an instance again), then what it made.
    t.after(async () => {
      await platform?.stopAll();
      const { docker } = await testDocker();
      for (const app of Object.values(apps)) await removeAppFromEngine(docker, app);
    });

    // `npm start`, with the settings the README gives it.
    const start = commands[0];
    assert.equal(start?.kind, 'start', 'the walkthrough begins with npm start');
    const words = (start?.line ?? '').split(/\s+/);
    const settings: Record<string, string> = {};
    while (/^[A-Z_]+=/.test(words[0] ?? '')) {
      const [name = '', ...value] = (words.shift() ?? '').split('=');
      settings[name] = value.join('=');
    }
    assert.equal(words.join(' '), 'npm start', start?.line);
    const p = await startPlatform({ dataDir, env: settings });
    platform = p;
    const port = {
      ssh: p.env.BERTH_SSH_PORT ?? '',
      web: p.env.BERTH_WEB_PORT ?? '',
      metrics: p.env.BERTH_METRICS_PORT ?? '',
      http: p.env.BERTH_HTTP_PORT ?? '',
      https: p.env.BERTH_HTTPS_PORT ?? '',
    };

    // What a laptop with DNS records for the server would have.
    const hostKey = (await readFile(path.join(dataDir, 'ssh', 'ssh_host_ed25519_key.pub'), 'utf8'))
      .trim()
      .split(' ')
      .slice(0, 2)
      .join(' ');
    const knownHosts = path.join(dir, 'known_hosts');
    await writeFile(
      knownHosts,
      `[${HOST}]:${port.ssh} ${hostKey}\n[127.0.0.1]:${port.ssh} ${hostKey}\n`,
    );
    const sshConfig = path.join(dir, 'ssh_config');
    await writeFile(
      sshConfig,
      [
        `Host ${HOST} *.${HOST}`,
        '  HostName 127.0.0.1',
        `  IdentityFile ${key.privatePath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHosts}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '',
      ].join('\n'),
    );
    const curlHome = path.join(dir, 'curl');
    await mkdir(curlHome);
    await writeFile(
      path.join(curlHome, '.curlrc'),
      // The router's ports 80 and 443 are the test's (and the links Berth
      // prints name the test's port); -sS as a terminal would show it (no
      // progress meter).
      [
        `connect-to = ":80:127.0.0.1:${port.http}"`,
        `connect-to = ":443:127.0.0.1:${port.https}"`,
        `connect-to = ":${port.http}:127.0.0.1:${port.http}"`,
        'silent',
        'show-error',
        '',
      ].join('\n'),
    );

    const forThisRun = (text: string) =>
      text
        .replace(new RegExp(`\\b${DEFAULT_PORTS.ssh}\\b`, 'g'), port.ssh)
        .replace(new RegExp(`\\b${DEFAULT_PORTS.web}\\b`, 'g'), port.web)
        .replace(new RegExp(`\\b${DEFAULT_PORTS.metrics}\\b`, 'g'), port.metrics)
        .replace(/\/var\/lib\/berth\b/g, dataDir)
        .replace(/\bhello\b/g, apps.hello)
        .replace(/\bshop\b/g, apps.shop);
    // A command: ssh with the config above, the key where the test made it.
    const typed = (text: string) =>
      forThisRun(text)
        .replace(/(^|&&\s*|;\s*|\|\s*)ssh /g, `$1ssh -F ${sshConfig} `)
        .replace(/\bid_ed25519\.pub\b/g, key.publicPath);
    // What Berth prints of the router's URLs: http://HOST/ is http://HOST:PORT/
    // on test ports (commands keep port 80, which curl's connect-to maps).
    const printed = (text: string) =>
      forThisRun(text)
        .replace(/\b(http:\/\/[^\s/:]+)\//g, `$1:${port.http}/`)
        .replace(/\b(https:\/\/[^\s/:]+)\//g, `$1:${port.https}/`);

    // The banner, from its ready line on (what comes before it depends on
    // what the machine had installed already).
    const banner = start?.output ?? [];
    const ready = banner.findIndex((l) => l.startsWith('=====> Berth is ready'));
    assert.ok(ready >= 0, 'the README shows the ready banner');
    const missing = missingOutput(banner.slice(ready).map(printed), p.stderr);
    assert.equal(missing, undefined, `npm start: not printed:\n${p.stderr.join('\n')}`);

    const serverEnv = { ...process.env, ...p.env, CURL_HOME: curlHome };
    const laptopEnv: NodeJS.ProcessEnv = {
      ...process.env,
      GIT_SSH_COMMAND: `ssh -F ${sshConfig}`,
      GIT_AUTHOR_NAME: 'Dev',
      GIT_AUTHOR_EMAIL: 'dev@example.com',
      GIT_COMMITTER_NAME: 'Dev',
      GIT_COMMITTER_EMAIL: 'dev@example.com',
      CURL_HOME: curlHome,
    };
    const pwdFile = path.join(dir, 'pwd');
    let laptopCwd = laptop;
    const run = async (c: WalkthroughCommand) => {
      const line = typed(c.line);
      const onServer = c.kind === 'server';
      const t0 = performance.now();
      const r = await runLine(
        line,
        onServer ? ROOT : laptopCwd,
        onServer ? serverEnv : laptopEnv,
        pwdFile,
      );
      if (!onServer) laptopCwd = r.cwd;
      const out = r.lines.join('\n');
      assert.equal(r.code, 0, `$ ${c.line}\n(ran as: ${line})\n${out}`);
      const expected = c.output.map(printed);
      const lost = missingOutput(expected, r.lines);
      assert.equal(
        lost,
        undefined,
        `$ ${c.line}\n(ran as: ${line})\nthe README shows a line it did not print:\n  ${lost}\nit printed:\n${out}`,
      );
      t.diagnostic(`$ ${c.line}: ${Math.round(performance.now() - t0)} ms`);
      return r.lines;
    };
    let signIn: string[] = [];
    for (const step of steps) {
      if (step.kind === 'file') {
        await writeFile(path.join(laptopCwd, step.name), step.content);
        continue;
      }
      for (const c of step.commands) {
        if (c.kind === 'start') continue;
        const lines = await run(c);
        if (c.line.includes('auth:login')) signIn = lines;
      }
    }

    // The sign-in link, opened as the README says: a page with a "Sign in as
    // admin" button, whose POST signs in; then / lists the app, running.
    const link = signIn.join('\n').match(/http:\/\/\S+\/auth\/login\/\S+/)?.[0];
    assert.ok(link, `auth:login printed no link:\n${signIn.join('\n')}`);
    const curl = async (args: string) => {
      const r = await runLine(`curl ${args}`, dir, laptopEnv, pwdFile);
      assert.equal(r.code, 0, `curl ${args}\n${r.lines.join('\n')}`);
      return r.lines.join('\n');
    };
    assert.match(await curl(`'${link}'`), /Sign in as admin/);
    const jar = path.join(dir, 'cookies');
    assert.match(
      await curl(`-X POST -c ${jar} -o /dev/null -w '%{http_code}' '${link}'`),
      /^30[23]$/,
    );
    const appsPage = await curl(`-b ${jar} http://${HOST}/`);
    assert.match(appsPage, new RegExp(`${apps.hello}[\\s\\S]*running`), appsPage);

    const { clean } = await p.stop();
    assert.ok(clean, p.stderr.join('\n'));
  });
});
