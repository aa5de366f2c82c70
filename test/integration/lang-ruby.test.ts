// Issue 18: Ruby apps, built by the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) from a fixture app like a getting-started app, then run
// and asked over HTTP (test/harness/language-builds.ts). The first run on a
// machine makes the toolchain image (mmdebstrap, kept for later runs).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { LABELS } from '../../services/core/docker.ts';
import { FIXTURE_APPS_DIR } from '../harness/buildpacks.ts';
import { languageBuilds } from '../harness/language-builds.ts';

const h = await languageBuilds('ruby');

describe('Ruby apps', () => {
  test('ruby: a Sinatra app with Gemfile.lock installs from Debian gems and runs with rackup', async (t) => {
    const r = await h.twice(t, 'ruby-sinatra', {
      file: 'app.rb',
      from: /ruby-sinatra on/,
      to: 'ruby-sinatra, again, on',
    });
    assert.ok(
      r.first.lines.includes('-----> Ruby 3.3, Debian 13 (Gemfile: ruby "~> 3.3")'),
      r.first.lines.join('\n'),
    );
    assert.deepEqual(r.first.result.processes, {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's ${PORT}, expanded at run time
      web: 'bundle exec rackup config.ru -o 0.0.0.0 -p ${PORT:-5000}',
    });
    assert.match(r.body, /^ruby-sinatra on Ruby 3\.3\.\d+, Sinatra 4\.\d+\.\d+$/m);
    assert.match(r.body2, /^ruby-sinatra, again, on Ruby 3\.3/m);
    assert.equal((await h.labelsOf(r.first.result.image))[LABELS.toolchain], 'ruby-3.3');
    // No Rakefile: no rake task runs.
    assert.ok(!r.first.lines.some((l) => /assets:precompile/.test(l)));
  });

  test("a Rakefile with assets:precompile (Rails's) runs it at build, in production, with the app's config", async () => {
    const dir = path.join(FIXTURE_APPS_DIR, 'ruby-sinatra');
    const gemfile = await readFile(path.join(dir, 'Gemfile'), 'utf8');
    const lock = await readFile(path.join(dir, 'Gemfile.lock'), 'utf8');
    const { app, rev } = await h.appFrom(
      'ruby-sinatra',
      {
        Gemfile: `${gemfile}gem "rake"\n`,
        // As bundle lock writes it, with the rake Debian has.
        'Gemfile.lock': lock
          .replace('    rack (3.1.20)\n', '    rack (3.1.20)\n    rake (13.2.1)\n')
          .replace('  rackup\n', '  rackup\n  rake\n'),
        // What a Rails app's Rakefile brings, in a few lines: the task writes public/assets.
        Rakefile: [
          'namespace :assets do',
          '  task :precompile do',
          '    mkdir_p "public/assets"',
          '    File.write("public/assets/app.css", "/* #{ENV["RAILS_ENV"]} #{ENV["GREETING"]} */\\n")',
          '  end',
          'end',
          '',
        ].join('\n'),
      },
      { GREETING: 'hej' },
    );
    const b = await h.build(app, rev);
    h.ok(b);
    assert.ok(
      b.lines.includes('-----> Compiling assets (rake assets:precompile)'),
      b.lines.join('\n'),
    );
    // Sinatra serves public/, as Rails does with RAILS_SERVE_STATIC_FILES.
    const css = await h.answerAt(b.result.image ?? '', '/assets/app.css');
    assert.equal(css.status, 200);
    assert.equal(css.body.toString(), '/* production hej */\n');
  });

  test('a Gemfile that pins a Ruby patch release Debian does not have is refused saying what to write', async () => {
    const gemfile = await readFile(path.join(FIXTURE_APPS_DIR, 'ruby-sinatra', 'Gemfile'), 'utf8');
    const { app, rev } = await h.appFrom('ruby-sinatra', {
      Gemfile: gemfile.replace('ruby "~> 3.3"', 'ruby "3.3.0"'),
    });
    const b = await h.build(app, rev);
    assert.equal(b.result.status, 'failed');
    assert.match(
      b.result.error ?? '',
      /^buildpack ruby: Gemfile: Bundler needs exactly Ruby 3\.3\.0, and Berth has Debian's 3\.3\.\d+: ask for ruby "~> 3\.3" in the Gemfile \(or add a Dockerfile\)$/,
    );
  });
});
