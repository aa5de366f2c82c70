// A Dokku user's CI deploy job, run unchanged against Berth (issue 20's
// acceptance): the script below is what a GitLab or GitHub Actions job runs
// against a Dokku server (`git push dokku@HOST:APP main`, then `config:set`,
// `ps:scale`, `letsencrypt:enable` over ssh), with only DOKKU_HOST and
// DOKKU_PORT pointing at Berth. Real bash, OpenSSH and git; Pebble as the
// ACME CA. What the CI runner sets up besides the script (its deploy key and
// known_hosts) is an `ssh` on PATH adding those options, as ~/.ssh/config
// would on a runner.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { connectDocker } from '../../services/core/docker.ts';
import { FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { removeAppFromEngine, testDockerTarget } from '../harness/docker.ts';
import { type Pebble, startPebble } from '../harness/pebble.ts';
import { type Platform, platformKnownHosts, startPlatform } from '../harness/platform.ts';
import { freePort } from '../harness/ports.ts';
import { opensshOptions } from '../harness/ssh.ts';
import { makeKeyPair } from '../harness/ssh-keys.ts';

const run = promisify(execFile);

/** Verbatim a Dokku deploy job; nothing in it knows about Berth. */
const CI_SCRIPT = `#!/usr/bin/env bash
set -euo pipefail
export GIT_SSH_COMMAND="ssh -p $DOKKU_PORT"
dokku() { ssh -p "$DOKKU_PORT" "dokku@$DOKKU_HOST" -- "$@"; }

dokku apps:exists "$APP_NAME" || dokku apps:create "$APP_NAME"
# ssh joins the words: a value with spaces goes base64 (--encoded), as on Dokku.
dokku config:set --encoded "$APP_NAME" GREETING="$(printf 'hello from ci' | base64)" NODE_ENV="$(printf production | base64)"
dokku domains:add "$APP_NAME" "$APP_DOMAIN"
git push "dokku@$DOKKU_HOST:$APP_NAME" main
dokku ps:scale "$APP_NAME" web=2
dokku letsencrypt:set "$APP_NAME" email ops@example.com
dokku letsencrypt:enable "$APP_NAME"
dokku config:set --no-restart "$APP_NAME" DEPLOYED_SHA="$(git rev-parse HEAD)"
dokku ps:report "$APP_NAME" --deployed
`;

const APP_DOMAIN = 'ci.example.test';
let dir: string;
let platform: Platform;
let pebble: Pebble;
let work: string;
let binDir: string;
let app: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-dokku-ci-'));
  const httpPort = await freePort();
  pebble = await startPebble({ httpPort });
  const admin = await makeKeyPair(dir, 'deploy');
  platform = await startPlatform({
    dataDir: path.join(dir, 'data'),
    env: {
      BERTH_ADMIN_PUBKEY: admin.publicPath,
      BERTH_HTTP_PORT: String(httpPort),
      BERTH_ACME_DIRECTORY_URL: pebble.directoryUrl,
      BERTH_ACME_SELF_CHECK: 'off',
      NODE_EXTRA_CA_CERTS: pebble.extraCaCertsFile,
    },
  });
  const knownHosts = await platformKnownHosts(platform, path.join(dir, 'known_hosts'));
  // The runner's ssh setup: its deploy key and the server's host key.
  binDir = path.join(dir, 'bin');
  await mkdir(binDir);
  const sshWrapper = path.join(binDir, 'ssh');
  await writeFile(
    sshWrapper,
    `#!/bin/sh\nexec /usr/bin/ssh ${opensshOptions({ key: admin.privatePath, knownHosts }).join(' ')} "$@"\n`,
  );
  await chmod(sshWrapper, 0o755);
  app = `ci${Math.random().toString(36).slice(2, 6)}`;
  work = path.join(dir, 'checkout');
  await cp(path.join(FIXTURE_APPS_DIR, 'node-plain'), work, { recursive: true });
  const git = (...args: string[]) => run('git', args, { cwd: work });
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.email', 'ci@example.com');
  await git('config', 'user.name', 'ci');
  await git('add', '-A');
  await git('commit', '-qm', 'first');
  await writeFile(path.join(dir, 'deploy.sh'), CI_SCRIPT);
});

after(async () => {
  await platform?.stop();
  await platform?.stopRedis();
  await pebble?.stop();
  await connectDocker({ dockerHost: platform?.env.DOCKER_HOST ?? testDockerTarget().dockerHost })
    .then(({ docker }) => removeAppFromEngine(docker, app))
    .catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

/** bash deploy.sh in the checkout, as the CI job runs it. */
function runJob(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(dir, 'deploy.sh')], {
      cwd: work,
      env: {
        PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: dir,
        LANG: 'C',
        GIT_CONFIG_NOSYSTEM: '1',
        DOKKU_HOST: '127.0.0.1',
        DOKKU_PORT: platform.env.BERTH_SSH_PORT ?? '',
        APP_NAME: app,
        APP_DOMAIN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('a Dokku CI deploy job against Berth', () => {
  test('runs unchanged: pushed, configured, scaled to two, served over verified HTTPS', async (t) => {
    const t0 = performance.now();
    const job = await runJob();
    const ms = Math.round(performance.now() - t0);
    assert.equal(job.code, 0, job.output);
    assert.match(job.output, /true\n$/, 'ps:report --deployed is the last line');

    const httpsPort = platform.env.BERTH_HTTPS_PORT ?? '';
    const { stdout } = await run('curl', [
      '-sS',
      '--fail',
      '--cacert',
      await pebble.rootFile(),
      '--resolve',
      `${APP_DOMAIN}:${httpsPort}:127.0.0.1`,
      `https://${APP_DOMAIN}:${httpsPort}/`,
    ]);
    assert.match(stdout, /NODE_ENV=production/, 'the config set before the push is in the release');
    // Two web instances, from ps:scale after the push.
    const ssh = [
      ...opensshOptions({
        key: path.join(dir, 'deploy'),
        knownHosts: path.join(dir, 'known_hosts'),
      }),
      '-p',
      platform.env.BERTH_SSH_PORT ?? '',
      'dokku@127.0.0.1',
    ];
    const ps = JSON.parse(
      (await run('ssh', [...ssh, 'ps:report', app, '--format', 'json'])).stdout,
    ) as { type: string; state: string; release: number }[];
    // The release before the scale may still be draining (wait-to-retire).
    const newest = Math.max(...ps.map((i) => i.release));
    assert.equal(
      ps.filter((i) => i.release === newest && i.type === 'web' && i.state === 'running').length,
      2,
    );
    assert.match((await run('ssh', [...ssh, 'ps:scale', app])).stdout, /web\s+2/);
    const sha = (await run('git', ['rev-parse', 'HEAD'], { cwd: work })).stdout.trim();
    assert.equal(
      (await run('ssh', [...ssh, 'config:get', app, 'DEPLOYED_SHA'])).stdout,
      `${sha}\n`,
    );
    assert.equal(
      (await run('ssh', [...ssh, 'config:get', app, 'GREETING'])).stdout,
      'hello from ci\n',
    );
    t.diagnostic(`the job ran in ${ms} ms`);
  });
});
