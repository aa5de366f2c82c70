import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAppJson, parseHealthchecks } from '../../services/platform/build/app-json.ts';
import { planAppEnv } from '../../services/platform/release/app-env.ts';

describe('app.json healthchecks', () => {
  test("Dokku's format, with its defaults; only startup checks decide a rollout", () => {
    const checks = parseHealthchecks(
      JSON.stringify({
        name: 'shop',
        healthchecks: {
          web: [
            { type: 'startup', name: 'health', path: '/health', content: 'ok', attempts: 3 },
            { type: 'liveness', path: '/live' },
          ],
          worker: [{ type: 'readiness', path: '/x' }],
        },
      }),
    );
    assert.deepEqual(checks, {
      web: [
        {
          type: 'startup',
          name: 'health',
          path: '/health',
          content: 'ok',
          attempts: 3,
          timeout: 5,
          wait: 1,
          initialDelay: 0,
          uptime: 0,
        },
      ],
    });
    assert.deepEqual(parseHealthchecks('{"name": "no checks"}'), {});
  });

  test('mistakes fail the build with one line naming app.json and the field', () => {
    const cases: [string, RegExp][] = [
      ['{ nope', /^app\.json: not valid JSON/],
      [
        '{"healthchecks": {"web": [{"path": "health"}]}}',
        /^app\.json: healthchecks\.web\.0\.path: /,
      ],
      [
        '{"healthchecks": {"web": [{"attempts": 0}]}}',
        /^app\.json: healthchecks\.web\.0\.attempts: /,
      ],
      ['{"healthchecks": {"Web!": [{}]}}', /^app\.json: healthchecks\.Web!: not a process type/],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parseHealthchecks(text),
        (e: Error) => expected.test(e.message),
        text,
      );
    }
  });
});

describe('app.json as Dokku and Heroku read it', () => {
  test("comments and trailing commas, as in Dokku's own test apps", () => {
    const text = `{
      // what the app is
      "name": "commented",
      /* checks */
      "healthchecks": { "web": [{ "path": "/" },] },
    }`;
    assert.equal(parseAppJson(text).healthchecks.web?.[0]?.path, '/');
  });

  test('a syntax error names its line and column', () => {
    assert.throws(
      () => parseAppJson('{\n  "name": "x",\n  "env": { "A" "b" }\n}'),
      (e: Error) => e.message === 'app.json: not valid JSON: ColonExpected at line 3, column 16',
    );
  });

  test('formation quantities, env entries, and the keys Berth does not use', () => {
    const m = parseAppJson(
      JSON.stringify({
        name: 'shop',
        description: 'a shop',
        formation: { web: { quantity: 2, max_parallel: 1 }, worker: { quantity: 1 } },
        env: {
          PLAIN: 'default',
          SECRET_KEY: { description: 'signing', generator: 'secret' },
          DATABASE_URL: { required: true },
          OPTIONAL: { value: 'x', required: false },
          PINNED: { value: 'p', sync: true },
        },
        scripts: { dokku: { predeploy: 'x', postdeploy: 'y' }, postdeploy: 'seed' },
        cron: [{ command: 'x', schedule: '@daily', concurrency_policy: 'allow', mailto: 'a' }],
        addons: ['heroku-postgresql'],
      }),
    );
    assert.deepEqual(m.formation, { web: 2, worker: 1 });
    assert.deepEqual(m.env, {
      PLAIN: { value: 'default', required: true, sync: false },
      SECRET_KEY: { generator: 'secret', required: true, sync: false },
      DATABASE_URL: { required: true, sync: false },
      OPTIONAL: { value: 'x', required: false, sync: false },
      PINNED: { value: 'p', required: true, sync: true },
    });
    assert.deepEqual(m.scripts, { predeploy: 'x', postdeploy: 'y' });
    assert.deepEqual(m.cron, [
      { command: 'x', schedule: '@daily', concurrency: 'allow', maintenance: false },
    ]);
    // Heroku's scripts.postdeploy (once, after an app is created) is not run: it is said so.
    assert.deepEqual(m.unused, [
      'formation.web.max_parallel',
      'scripts.postdeploy',
      'cron.0.mailto',
      'addons',
    ]);
    // A cron task without a policy does not overlap itself.
    assert.equal(
      parseAppJson('{"cron": [{"command": "x", "schedule": "@daily"}]}').cron[0]?.concurrency,
      'forbid',
    );
    // A formation without quantities sets no scale.
    assert.equal(parseAppJson('{"formation": {"web": {}}}').formation, undefined);
  });

  test('bad formation and env entries fail the build naming them', () => {
    const cases: [string, RegExp][] = [
      ['{"formation": {"web": {"quantity": -1}}}', /^app\.json: formation\.web\.quantity: /],
      [
        '{"formation": {"We b": {"quantity": 1}}}',
        /^app\.json: formation\.We b: not a process type/,
      ],
      ['{"env": {"A-B": "x"}}', /^app\.json: env\.A-B: not a config key/],
      ['{"env": {"A": {"generator": "uuid"}}}', /^app\.json: env\.A\.generator: /],
      ['[1]', /^app\.json: not a JSON object/],
      ['{"cron": [{"schedule": "@daily"}]}', /^app\.json: cron\.0\.command: /],
      [
        '{"cron": [{"command": "x", "schedule": "@daily", "concurrency_policy": "never"}]}',
        /^app\.json: cron\.0\.concurrency_policy: /,
      ],
      ['{"scripts": {"dokku": {"predeploy": ""}}}', /^app\.json: scripts\.dokku\.predeploy: /],
    ];
    for (const [text, expected] of cases) {
      assert.throws(
        () => parseAppJson(text),
        (e: Error) => expected.test(e.message),
        text,
      );
    }
  });
});

describe("app.json env at a deploy, by Dokku's rules", () => {
  const env = parseAppJson(
    JSON.stringify({
      env: {
        PLAIN: 'default',
        SECRET_KEY: { generator: 'secret' },
        OPTIONAL: { required: false },
        PINNED: { value: 'p', sync: true },
      },
    }),
  ).env;

  test('the first deploy sets defaults and generates secrets, never showing their values', () => {
    const plan = planAppEnv('shop', env, {}, true);
    assert.equal(plan.set.PLAIN, 'default');
    assert.match(plan.set.SECRET_KEY ?? '', /^[0-9a-f]{64}$/);
    assert.equal(plan.set.PINNED, 'p');
    assert.equal('OPTIONAL' in plan.set, false);
    assert.deepEqual(plan.said, [
      'PLAIN (default)',
      'SECRET_KEY (generated secret)',
      'PINNED (sync)',
    ]);
  });

  test('later deploys keep what the owner set, sync entries excepted', () => {
    const config = { PLAIN: 'mine', SECRET_KEY: 'k', PINNED: 'changed' };
    assert.deepEqual(planAppEnv('shop', env, config, false).set, { PINNED: 'p' });
  });

  test('required keys still missing refuse the deploy, all named at once', () => {
    const required = parseAppJson(
      '{"env": {"DATABASE_URL": {}, "API_KEY": {"required": true}, "X": "1"}}',
    ).env;
    assert.throws(
      () => planAppEnv('shop', required, { X: '1' }, false),
      (e: Error) =>
        e.message.startsWith(
          'app.json of "shop" requires config vars it does not have: DATABASE_URL, API_KEY',
        ),
    );
    assert.deepEqual(
      planAppEnv('shop', required, { DATABASE_URL: 'u', API_KEY: 'k', X: '1' }, false).set,
      {},
    );
  });
});
