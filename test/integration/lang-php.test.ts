// Issue 18: PHP apps, built by the real builder
// (services/builder/worker.ts → run-build.ts → toolchain-image.ts and
// buildpack-build.ts) from a fixture app like a getting-started app, then run
// and asked over HTTP (test/harness/language-builds.ts). The first run on a
// machine makes the toolchain image (mmdebstrap, kept for later runs).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { languageBuilds } from '../harness/language-builds.ts';

const h = await languageBuilds('php');

describe('PHP apps', () => {
  test('php: composer.json require.php ^8.2 gets the newest PHP, php-fpm behind nginx, public/ as the root', async (t) => {
    const r = await h.twice(
      t,
      'php-web',
      { file: 'src/Greeting.php', from: /php-web on/, to: 'php-web, again, on' },
      '/some/page?x=1',
    );
    assert.ok(
      r.first.lines.includes('-----> PHP 8.4, Debian 13 (composer.json: require.php "^8.2")'),
      r.first.lines.join('\n'),
    );
    assert.deepEqual(r.first.result.processes, { web: 'heroku-php-nginx' });
    assert.match(r.body, /^php-web on PHP 8\.4\.\d+, PATH \/some\/page\?x=1$/m);
    assert.match(r.body2, /^php-web, again, on PHP 8\.4/m);
    // The app's own files outside public/ are not served: the front controller answers.
    const src = await h.answerAt(r.second.result.image ?? '', '/composer.json');
    assert.match(src.body.toString(), /^php-web, again, on PHP 8\.4\.\d+, PATH \/composer\.json$/m);
  });
});
