// Heroku's and Dokku's names for the buildpacks Berth ships its own of, so
// that a `.buildpacks` file or a `buildpacks:add` line written for Heroku or
// Dokku works unchanged: the shorthand (`heroku/nodejs`) and the buildpack's
// git URL, with or without `.git` and a `#ref` (the ref is Heroku's version of
// the buildpack; Berth runs its own). Other URLs are not fetched.

/** Heroku's and Dokku's buildpack → the Berth buildpack that does its job. */
const ALIASES: Readonly<Record<string, string>> = {
  'heroku/nodejs': 'node',
  'heroku/python': 'python',
  'heroku/procfile': 'procfile',
  'heroku-community/static': 'static',
  'heroku-community/nginx': 'static',
  'github.com/heroku/heroku-buildpack-nodejs': 'node',
  'github.com/heroku/heroku-buildpack-python': 'python',
  'github.com/heroku/heroku-buildpack-static': 'static',
  'github.com/heroku/heroku-buildpack-nginx': 'static',
  'github.com/dokku/heroku-buildpack-nginx': 'static',
  'github.com/dokku/buildpack-nginx': 'static',
  'github.com/heroku/procfile-cnb': 'procfile',
  'heroku/go': 'go',
  'heroku/ruby': 'ruby',
  'heroku/php': 'php',
  'github.com/heroku/heroku-buildpack-go': 'go',
  'github.com/heroku/heroku-buildpack-ruby': 'ruby',
  'github.com/heroku/heroku-buildpack-php': 'php',
  'github.com/heroku/buildpacks-go': 'go',
  'github.com/heroku/buildpacks-ruby': 'ruby',
  'github.com/heroku/buildpacks-php': 'php',
  'github.com/heroku/buildpacks-nodejs': 'node',
  'github.com/heroku/buildpacks-python': 'python',
  // Dokku's herokuish runs Heroku's own; the Cloud Native names Dokku's pack builder takes.
  'github.com/dokku/heroku-buildpack-go': 'go',
  'github.com/dokku/heroku-buildpack-ruby': 'ruby',
  'github.com/dokku/heroku-buildpack-php': 'php',
  'heroku-community/go': 'go',
  'heroku-community/ruby': 'ruby',
  'heroku-community/php': 'php',
  'paketo-buildpacks/go': 'go',
  'paketo-buildpacks/ruby': 'ruby',
  'paketo-buildpacks/php': 'php',
  'paketo-buildpacks/nodejs': 'node',
  'paketo-buildpacks/python': 'python',
};

/**
 * The Berth buildpack a Heroku or Dokku buildpack name or URL stands for,
 * or undefined when it is none of them.
 */
export function buildpackAlias(value: string): string | undefined {
  const key = value
    .trim()
    .toLowerCase()
    .replace(/#.*$/, '')
    .replace(/^(https?:\/\/|git:\/\/|ssh:\/\/git@|git@)/, '')
    .replace(/^github\.com:/, 'github.com/')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
  return ALIASES[key];
}
