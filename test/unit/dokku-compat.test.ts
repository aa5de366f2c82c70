// docs/dokku-compatibility.md is made from test/fixtures/dokku-commands.json
// (Dokku's command and flag names) and the command registry: a command or
// flag added, removed or changed without `npm run docs:commands` fails here,
// and so does a listing that claims what the registry does not have.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { findCommand } from '../../cli/registry.ts';
import { BerthError } from '../../services/core/errors.ts';
import {
  anchorOf,
  COMPAT_DOC,
  compatibilityMarkdown,
  DIFFERENCES_DOC,
  readDokkuCommands,
  takesFlag,
} from '../dokku-compat.ts';

const doc = readFileSync(COMPAT_DOC, 'utf8');

/** The rows of the committed doc's per-namespace tables: command, Berth cell, flags cell. */
const rows = () =>
  doc
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => {
      const [name = '', berth = '', flags = ''] = l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim());
      return { name: name.replace(/`/g, ''), berth, flags };
    });

describe('docs/dokku-compatibility.md', () => {
  test('is what the fixture and the registry make (run `npm run docs:commands` after changing a command)', () => {
    assert.equal(doc, compatibilityMarkdown());
  });

  test('lists every command of the fixture once', () => {
    const listed = rows().map((r) => r.name);
    const fixture = Object.values(readDokkuCommands().namespaces).flatMap((ns) => Object.keys(ns));
    assert.deepEqual(listed, fixture);
    assert.equal(new Set(listed).size, listed.length);
  });

  test('a command listed as supported is in the registry, with each flag listed as supported', () => {
    let checked = 0;
    for (const r of rows()) {
      if (!r.berth.startsWith('supported')) continue;
      const c = findCommand(r.name);
      assert.ok(c, `${r.name} is listed as supported but the registry has no such command`);
      assert.equal(c.instead, undefined, `${r.name} only answers what Berth does instead`);
      const supported = /supported(?: with a difference)?: ([^;]*)/g;
      for (const m of r.flags.matchAll(supported)) {
        for (const flag of m[1]?.match(/--[a-z0-9-]+/g) ?? []) {
          assert.ok(takesFlag(c, flag.slice(2)), `${r.name} ${flag} is listed but not taken`);
          checked++;
        }
      }
    }
    assert.ok(checked > 50, `only ${checked} flags checked`);
  });

  test('a command listed as missing is not in the registry', () => {
    for (const r of rows().filter((r) => r.berth === 'missing'))
      assert.equal(findCommand(r.name), undefined, `${r.name} exists: regenerate the doc`);
  });

  test('each "Berth does instead" command answers in one line with that, and changes nothing', async () => {
    const instead = rows().filter((r) => r.berth.startsWith('Berth does instead'));
    assert.ok(instead.length > 20);
    for (const r of instead) {
      const c = findCommand(r.name);
      assert.ok(c?.instead, r.name);
      await assert.rejects(
        // These answer before reading anything of the call: no store, no app.
        c.run({} as Parameters<typeof c.run>[0]),
        (e: unknown) =>
          e instanceof BerthError &&
          e.code === 'BERTH_E_DOKKU_DIFFERENT' &&
          e.toLine().includes(c.instead ?? '') &&
          !e.toLine().includes('\n'),
        r.name,
      );
    }
  });

  test('each documented difference names a section of docs/dokku-differences.md and a listed command', () => {
    const differences = readFileSync(DIFFERENCES_DOC, 'utf8');
    const anchors = new Set(
      differences
        .split('\n')
        .filter((l) => l.startsWith('## '))
        .map((l) => anchorOf(l.slice(3))),
    );
    const data = readDokkuCommands();
    const all = Object.values(data.namespaces).reduce((a, ns) => Object.assign(a, ns), {});
    for (const [key, heading] of Object.entries(data.differences)) {
      assert.ok(anchors.has(anchorOf(heading)), `${key}: no section "${heading}"`);
      const [name = '', flag] = key.split(' --');
      assert.ok(all[name], `${key}: not a listed Dokku command`);
      if (flag !== undefined) assert.ok(all[name]?.includes(flag), `${key}: not a listed flag`);
    }
  });
});
