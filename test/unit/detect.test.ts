import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BuildSettings } from '../../services/core/store/index.ts';
import { detectBuilder, parseBuildpacksFile } from '../../services/platform/build/detect.ts';

const SHIPPED = ['node', 'python', 'static', 'procfile'];

/** A commit's tree as detectBuilder reads it: path → content (a symlink: { link }). */
function tree(files: Record<string, string | { link: string }>) {
  return {
    async entry(name: string) {
      const f = files[name];
      if (f === undefined) return undefined;
      return { type: 'blob' as const, mode: typeof f === 'string' ? '100644' : '120000' };
    },
    async readFile(name: string) {
      const f = files[name];
      if (typeof f !== 'string') throw new Error(`no file ${name}`);
      return f;
    },
  };
}

const settings = (s: Partial<BuildSettings> = {}) => ({
  builder: null,
  dockerfilePath: null,
  buildpacks: [],
  ...s,
});
const detect = (files: Parameters<typeof tree>[0], s: Partial<BuildSettings> = {}) =>
  detectBuilder(tree(files), settings(s), 'shop', async () => SHIPPED);

describe('detectBuilder', () => {
  test('a Dockerfile at the root means a Docker build; otherwise every buildpack in order', async () => {
    assert.deepEqual(await detect({ Dockerfile: 'FROM x', 'package.json': '{}' }), {
      builder: 'dockerfile',
      dockerfile: 'Dockerfile',
      reason: 'Dockerfile at the root of the repository',
    });
    assert.deepEqual(await detect({ 'package.json': '{}' }), {
      builder: 'buildpacks',
      candidates: SHIPPED,
      pinned: false,
      reason: 'no Dockerfile; the first buildpack that recognises the app',
    });
  });

  test('builder:set and builder-dockerfile:set decide first', async () => {
    const bp = await detect({ Dockerfile: 'FROM x' }, { builder: 'buildpacks' });
    assert.equal(bp.builder, 'buildpacks');
    const path = await detect(
      { Dockerfile: 'FROM x', 'docker/web': 'FROM y' },
      { dockerfilePath: 'docker/web' },
    );
    assert.deepEqual(path, {
      builder: 'dockerfile',
      dockerfile: 'docker/web',
      reason: 'docker/web, the path builder-dockerfile:set gave',
    });
    await assert.rejects(detect({ 'package.json': '{}' }, { builder: 'dockerfile' }), {
      code: 'BERTH_E_BUILD_NO_DOCKERFILE',
    });
    await assert.rejects(detect({ Dockerfile: 'FROM x' }, { builder: 'image' }), {
      code: 'BERTH_E_BUILD_IMAGE_ONLY',
    });
  });

  test('pinned buildpacks: buildpacks:set first, then a .buildpacks file', async () => {
    const set = await detect({ '.buildpacks': 'python\n' }, { buildpacks: ['static', 'node'] });
    assert.deepEqual(set.builder === 'buildpacks' && [set.candidates, set.pinned], [
      ['static', 'node'],
      true,
    ]);
    const file = await detect({ '.buildpacks': '# ours\nnode\n\npython\nnode\n' });
    assert.deepEqual(file.builder === 'buildpacks' && file.candidates, ['node', 'python']);
  });

  test('a Dockerfile that is a symbolic link is refused', async () => {
    await assert.rejects(detect({ Dockerfile: { link: '/etc/passwd' } }), {
      message: 'Dockerfile: it is a symbolic link; Berth builds from a regular file',
    });
  });
});

describe('parseBuildpacksFile', () => {
  test('a URL the operator does not let in, or a name Berth does not ship, is refused with its line', () => {
    assert.throws(
      () => parseBuildpacksFile('node\nhttps://github.com/owner/buildpack-x\n', SHIPPED, []),
      {
        message:
          '.buildpacks:2: invalid buildpack URL "https://github.com/owner/buildpack-x": this server fetches no buildpack (BERTH_BUILDPACK_URLS is none); use one Berth ships',
      },
    );
    assert.throws(() => parseBuildpacksFile('cobol\n', SHIPPED), {
      message:
        '.buildpacks:1: there is no buildpack cobol; Berth ships node, python, static, procfile',
    });
  });
});

describe("Heroku's and Dokku's buildpack names", () => {
  test('shorthands and GitHub URLs (with .git and a #ref) are the buildpacks Berth ships', () => {
    const file = [
      'heroku/nodejs',
      'https://github.com/heroku/heroku-buildpack-python.git#v250',
      'https://github.com/dokku/heroku-buildpack-nginx',
      'git@github.com:heroku/heroku-buildpack-nodejs.git',
    ].join('\n');
    assert.deepEqual(parseBuildpacksFile(file, SHIPPED), ['node', 'python', 'static']);
  });
});
