// git:* — how pushes to an app deploy.

import { BerthError, EXIT } from '../../services/core/errors.ts';
import { dataPaths } from '../../services/core/paths.ts';
import { systemSearchPath } from '../../services/core/programs.ts';
import * as validate from '../../services/core/validate.ts';
import { ARCHIVE_MAX_BYTES, archiveEntries } from '../../services/platform/build/archive.ts';
import { fetchArchive } from '../../services/platform/build/archive-fetch.ts';
import { deployFromImage, rebuildCommit } from '../../services/platform/build/command-build.ts';
import { authorName, commitArchive } from '../../services/platform/build/from-archive.ts';
import { syncRepo } from '../../services/platform/build/git-sync.ts';
import { GIT_SETTINGS, setGitSetting } from '../../services/platform/git/settings.ts';
import type { Command } from '../command.ts';
import { buildExit, buildRun } from '../release-run.ts';
import { settingRows, writeReport } from '../report.ts';

export const gitCommands: readonly Command[] = [
  {
    name: 'git:set',
    usage: `APP|--global ${GIT_SETTINGS.join('|')} [VALUE]`,
    summary:
      "change a git setting (no VALUE: back to the default); --global deploy-branch (admins): the deploy branch new apps get (an app's own stays its own)",
    access: { app: 'push' },
    global: 'admin',
    arity: [1, 2],
    async run({ ctx, app, args }) {
      const [key = '', value] = args;
      const branch = await setGitSetting(
        await ctx.store(),
        dataPaths(ctx.config().dataDir),
        app,
        key,
        value,
      );
      // Dokku's words.
      ctx.stdout.write(
        value ? `=====> Setting ${key} to ${branch}\n` : `=====> Unsetting ${key}\n`,
      );
      return EXIT.ok;
    },
  },
  {
    name: 'git:from-image',
    usage: 'APP IMAGE',
    summary: 'deploy an image already on the Docker Engine (or pullable) instead of a push',
    access: { app: 'push' },
    arity: [1, 1],
    async run({ ctx, app, args }) {
      if (!app) return EXIT.failed;
      const result = await deployFromImage({
        ...(await buildRun(ctx, app.name)),
        image: args[0] ?? '',
      });
      return buildExit(ctx, result, 'the deploy failed');
    },
  },
  {
    name: 'git:sync',
    usage: '[--build | --build-if-changes] [--skip-deploy-branch] APP REPOSITORY [REF]',
    summary:
      "put a public https repository's commit (REF: a branch, tag or commit; default its HEAD) in the app's repository as its deploy branch; --build deploys it (a branch REF becomes the deploy branch unless --skip-deploy-branch)",
    access: { app: 'push' },
    options: {
      build: { type: 'boolean' },
      'build-if-changes': { type: 'boolean' },
      'skip-deploy-branch': { type: 'boolean' },
    },
    arity: [1, 2],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const [repo = '', ref] = args;
      const store = await ctx.store();
      // apps:lock refuses deploys: a sync that would build is refused before it fetches.
      const build = options.build === true || options['build-if-changes'] === true;
      if (build && (await store.apps.isLocked(app.name)))
        throw new BerthError('BERTH_E_APP_LOCKED', { app: app.name });
      const paths = dataPaths(ctx.config().dataDir);
      const synced = await syncRepo({
        store,
        paths,
        searchPath: systemSearchPath(undefined),
        app,
        repo,
        ...(ref === undefined ? {} : { ref }),
        allowed: ctx.config().buildpackUrls,
        skipDeployBranch: options['skip-deploy-branch'] === true,
        signal: ctx.signal,
        progress: (line) => ctx.stdout.write(`-----> ${line}\n`),
      });
      if (options.build !== true && !(options['build-if-changes'] === true && synced.changed)) {
        if (options['build-if-changes'] === true)
          ctx.stdout.write('       No changes: not built (--build-if-changes)\n');
        return EXIT.ok;
      }
      const run = await buildRun(ctx, app.name);
      return buildExit(
        ctx,
        await rebuildCommit({ ...run, rev: synced.rev, branch: synced.branch }),
        'the deploy failed',
      );
    },
  },
  {
    name: 'git:from-archive',
    usage: '[--archive-type tar|tar.gz] APP URL|-- [GIT_USER_NAME GIT_USER_EMAIL]',
    summary:
      "deploy a tar or .tar.gz of the app's files (from a public https URL, or stdin with --) as a commit on its deploy branch (no links out, no .., 10000 entries and 200 MB at most); the same archive again: nothing to do",
    access: { app: 'push' },
    options: { 'archive-type': { type: 'string' } },
    arity: [0, 3],
    async run({ ctx, app, args, options }) {
      if (!app) return EXIT.failed;
      const type = options['archive-type'];
      if (type !== undefined && type !== 'tar' && type !== 'tar.gz' && type !== 'tgz') {
        throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
          what: `git:from-archive --archive-type ${String(type).slice(0, 20)}`,
          why: 'Berth reads tar and gzipped tar',
          instead:
            'repack it: unzip app.zip -d app && tar -C app -cf - . | ssh ... git:from-archive APP',
        });
      }
      // Dokku's ARCHIVE_URL: a URL, or "--" (which ends the options, so it is not seen) or "-": stdin.
      const rest = args[0] === '-' ? args.slice(1) : [...args];
      const url =
        rest[0] !== undefined && /^[a-z][a-z0-9+.-]*:/i.test(rest[0]) ? rest.shift() : undefined;
      if (rest.length === 1) {
        throw new BerthError('BERTH_E_USAGE', {
          reason: `give both the git user name and e-mail, or neither; usage: berth git:from-archive ${'[--archive-type tar|tar.gz] APP URL|-- [NAME EMAIL]'}`,
        });
      }
      const author =
        rest.length === 2
          ? { name: authorName(rest[0] ?? ''), email: validate.email(rest[1] ?? '') }
          : undefined;
      let input: Buffer;
      if (url !== undefined) {
        input = await fetchArchive(url, ctx.config().buildpackUrls, ctx.signal);
      } else {
        if ((ctx.stdin as NodeJS.ReadStream).isTTY) {
          throw new BerthError('BERTH_E_USAGE', {
            reason: `pass the archive on stdin or give its URL: berth git:from-archive ${app.name} -- < app.tar`,
          });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of ctx.stdin) {
          const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
          size += b.length;
          if (size > ARCHIVE_MAX_BYTES)
            throw new BerthError('BERTH_E_ARCHIVE', {
              reason: `it is larger than ${ARCHIVE_MAX_BYTES / 1048576} MB`,
            });
          chunks.push(b);
        }
        input = Buffer.concat(chunks);
      }
      const entries = archiveEntries(input);
      const store = await ctx.store();
      if (await store.apps.isLocked(app.name))
        throw new BerthError('BERTH_E_APP_LOCKED', { app: app.name });
      const committed = await commitArchive({
        paths: dataPaths(ctx.config().dataDir),
        searchPath: systemSearchPath(undefined),
        app,
        entries,
        ...(author ? { author } : {}),
      });
      if (!committed.changed) {
        ctx.stdout.write(
          `-----> No changes: ${committed.branch} of ${app.name} already holds these files\n`,
        );
        return EXIT.ok;
      }
      ctx.stdout.write(
        `-----> ${entries.filter((e) => e.kind === 'file').length} files from the archive are ${committed.rev.slice(0, 7)} on ${committed.branch} of ${app.name}\n`,
      );
      const run = await buildRun(ctx, app.name);
      return buildExit(
        ctx,
        await rebuildCommit({ ...run, rev: committed.rev, branch: committed.branch }),
        'the deploy failed',
      );
    },
  },
  {
    name: 'git:load-image',
    usage: 'APP IMAGE',
    summary:
      "Dokku's docker save | git:load-image: refused (an image tarball names its own tags, another app's or the stack's among them); push the image to a registry and git:from-image APP IMAGE",
    access: { app: 'push' },
    instead: 'push the image to a registry and deploy it with git:from-image APP IMAGE',
    options: { 'build-dir': { type: 'string' } },
    arity: [0, Number.POSITIVE_INFINITY],
    async run() {
      throw new BerthError('BERTH_E_DOKKU_DIFFERENT', {
        what: 'git:load-image',
        why: "a loaded tarball names its own image tags, and could replace another app's image or the stack's",
        instead: 'push the image to a registry and deploy it with git:from-image APP IMAGE',
      });
    },
  },
  {
    name: 'git:report',
    usage: '[APP|--global] [--format json | --git-KEY]',
    summary:
      "show the app's git settings (no APP: each app you can see); --git-deploy-branch (or another key) prints that value alone",
    access: { app: 'read' },
    global: 'read',
    json: true,
    report: true,
    arity: [0, 0],
    async run(call) {
      const { ctx, app } = call;
      const global = (await (await ctx.store()).platform.get()).deployBranch;
      if (!app) {
        return writeReport(call, {
          namespace: 'git',
          app: undefined,
          rows: settingRows('Git', 'deploy branch', false, null, global, 'main'),
        });
      }
      const c = ctx.config();
      const data = {
        deployBranch: app.deployBranch,
        url: `ssh://berth@${c.domain}:${c.sshPort}/${app.name}`,
      };
      return writeReport(call, {
        namespace: 'git',
        app: app.name,
        rows: [
          // An app's deploy branch is its own from its creation (the --global one then, else main).
          ...settingRows('Git', 'deploy branch', true, app.deployBranch, global, 'main'),
          ['Git URL', data.url],
        ],
        data,
      });
    },
  },
];
