// docs/commands.md is made from the command registry: a command, flag or
// summary changed without `npm run docs:commands` fails here, so the
// reference and the commands cannot drift apart (issue 20).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { COMMANDS_DOC, commandsMarkdown } from '../../cli/commands-doc.ts';
import { COMMANDS } from '../../cli/registry.ts';

describe('docs/commands.md', () => {
  test('is what the registry makes (run `npm run docs:commands` after changing a command)', () => {
    assert.equal(readFileSync(COMMANDS_DOC, 'utf8'), commandsMarkdown());
  });

  test('names every command and each of its flags', () => {
    const doc = commandsMarkdown();
    for (const c of COMMANDS) {
      assert.ok(doc.includes(`| \`${c.name}`), c.name);
      for (const flag of Object.keys(c.options ?? {})) {
        const row = doc
          .split('\n')
          .find((l) => l.startsWith(`| \`${c.name} `) || l.startsWith(`| \`${c.name}\` `));
        assert.ok(row?.includes(`--${flag}`), `${c.name} --${flag}`);
      }
    }
  });
});
