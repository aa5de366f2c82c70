// The one registry of errors a Berth user can see. Every service, the SSH
// command line and the web API raise these, so a code means the same thing
// everywhere: the CLI exits with `exitCode`, the API answers with `httpStatus`.
// docs/errors.md lists every code; test/unit/errors.test.ts keeps the two in step.

/** Exit codes of every Berth command (Dokku/Heroku grammar). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface ErrorSpec {
  /** One line: what was wrong. `{name}` placeholders are filled from the params. */
  readonly message: string;
  /** What to do next; appended to the message after " — ". */
  readonly hint?: string;
  readonly exitCode: number;
  readonly httpStatus: number;
}

const spec = (message: string, exitCode: number, httpStatus: number, hint?: string): ErrorSpec =>
  hint === undefined ? { message, exitCode, httpStatus } : { message, exitCode, httpStatus, hint };

export const ERRORS = {
  BERTH_E_CONFIG: spec(
    '{name}={value}: {reason}',
    EXIT.usage,
    500,
    'fix the environment variable and start again',
  ),
  BERTH_E_DATA_DIR: spec(
    'data directory {path} is not usable: {reason}',
    EXIT.failed,
    500,
    'set BERTH_DATA_DIR to a writable directory or fix its permissions',
  ),
  BERTH_E_INVALID_NAME: spec('invalid {kind} "{value}": {reason}', EXIT.usage, 400),
  BERTH_E_USAGE: spec('{reason}', EXIT.usage, 400, 'run "berth help" for the commands'),
  BERTH_E_UNKNOWN_COMMAND: spec(
    'unknown command "{command}"',
    EXIT.usage,
    404,
    'run "berth help" for the commands',
  ),
  BERTH_E_NOT_ROOT: spec(
    '{action} needs root',
    EXIT.failed,
    500,
    'run it as root (sudo npm start) on a Debian 12 machine',
  ),
  BERTH_E_NO_APT: spec(
    'cannot install {packages}: apt-get is not available on this machine',
    EXIT.failed,
    500,
    'install them with your package manager, or run Berth on Debian 12',
  ),
  BERTH_E_INSTALL: spec(
    'installing {packages} failed: {reason}',
    EXIT.failed,
    500,
    'see the apt output above; check that the Debian mirror is reachable',
  ),
  BERTH_E_DOCKER_UNAVAILABLE: spec(
    'the Docker Engine does not answer at {host}: {reason}',
    EXIT.failed,
    503,
    'start dockerd or set DOCKER_HOST; its log is at {log}',
  ),
  BERTH_E_DOCKER_NO_ANSWER: spec(
    'the Docker Engine does not answer at {host}: {reason}',
    EXIT.failed,
    503,
    'run "npm start" to start the local one, or set DOCKER_HOST to an engine that answers',
  ),
  BERTH_E_DOCKERD_MISSING: spec(
    'dockerd is not installed on this machine',
    EXIT.failed,
    500,
    'install it with "apt-get install -y docker.io" (npm start does), or set DOCKER_HOST to a running engine',
  ),
  BERTH_E_DOCKERD_STUCK: spec(
    'dockerd (pid {pid}) is running but does not answer on {socket}',
    EXIT.failed,
    503,
    'see its log at {log}; stop it with "kill {pid}", then start again',
  ),
  BERTH_E_DOCKER_API_VERSION: spec(
    'the Docker Engine at {host} (Docker {version}) cannot be used: {reason}',
    EXIT.failed,
    500,
    'upgrade Berth, or use a Docker Engine that still accepts API {apiVersion}',
  ),
  BERTH_E_REDIS_UNAVAILABLE: spec(
    'Redis does not answer at {url}: {reason}',
    EXIT.failed,
    503,
    'start Redis or set REDIS_URL to one that answers',
  ),
  // A full disk (services/core/disk-full.ts): {where} is a directory to run df -h on.
  BERTH_E_DISK_FULL: spec(
    'no space left on the disk of {where}: {what}',
    EXIT.failed,
    507,
    'free space there (df -h {where} shows how much is left), then try again; Berth carries on by itself once there is room',
  ),
  BERTH_E_STACK_BUILD: spec(
    'building the stack image {image} failed: {reason}',
    EXIT.failed,
    500,
    'see the output above, then run "berth stack:rebuild"',
  ),
  BERTH_E_SERVICE_FAILED: spec(
    'service {service} failed to start: {reason}',
    EXIT.failed,
    500,
    'see its log lines above',
  ),
  BERTH_E_NOT_RUNNING: spec(
    'Berth is not running on the data directory {dataDir}',
    EXIT.failed,
    503,
    'start it with "npm start" or "systemctl start berth" (the same BERTH_DATA_DIR)',
  ),
  BERTH_E_RELOAD_FAILED: spec(
    'reload failed: {reason}',
    EXIT.failed,
    500,
    'the services listed above as running serve on; fix the cause, then run "berth reload" again',
  ),
  BERTH_E_UNIT_FOREIGN: spec(
    '{path} exists and was not written by "berth service:install"',
    EXIT.failed,
    409,
    'pick another name with --name, or move that file away yourself',
  ),
  BERTH_E_UNIT_NOT_INSTALLED: spec(
    'no Berth unit {unit} in {dir}',
    EXIT.failed,
    404,
    'run "berth service:status" (with the same --name and --unit-dir) to see what is installed',
  ),
  BERTH_E_SYSTEMCTL: spec(
    '"systemctl {args}" failed: {reason}',
    EXIT.failed,
    500,
    'see "systemctl status {unit}" and "journalctl -u {unit}"; nothing was removed',
  ),
  BERTH_E_FORBIDDEN: spec(
    '{action} is for {who}',
    EXIT.failed,
    403,
    "ask an admin or the app's owner",
  ),
  BERTH_E_APP_NOT_FOUND: spec(
    'app "{app}" does not exist',
    EXIT.failed,
    404,
    'run "berth apps:list" to see the apps',
  ),
  BERTH_E_APP_EXISTS: spec(
    'app "{app}" already exists',
    EXIT.failed,
    409,
    'pick another name or destroy it first',
  ),
  BERTH_E_USER_NOT_FOUND: spec(
    'user "{user}" does not exist',
    EXIT.failed,
    404,
    'run "berth ssh-keys:list" to see the users',
  ),
  BERTH_E_KEY_INVALID: spec(
    'not an SSH public key: {reason}',
    EXIT.usage,
    400,
    'pass one line of a .pub file, such as ~/.ssh/id_ed25519.pub',
  ),
  BERTH_E_KEY_EXISTS: spec(
    'this key is already registered to user "{user}" ({fingerprint})',
    EXIT.failed,
    409,
    'remove it first with "berth ssh-keys:remove {fingerprint}"',
  ),
  // {holder} is 'app "NAME"', or 'another app' for a caller who may not see that app.
  BERTH_E_DOMAIN_TAKEN: spec(
    'domain {domain} already belongs to {holder}',
    EXIT.failed,
    409,
    'it must be removed from that app first; or pick another domain',
  ),
  BERTH_E_DOMAIN_WILDCARD_OVERLAP: spec(
    '{domain} overlaps {other}, which belongs to {holder}',
    EXIT.failed,
    409,
    "a wildcard and the names one label under it must all be one owner's apps; pick another domain",
  ),
  BERTH_E_DOMAIN_RESERVED: spec(
    '{domain} cannot be a custom domain: {reason}',
    EXIT.failed,
    409,
    'use a domain of your own; every app is served at APP.{base} already',
  ),
  BERTH_E_RELEASE_NOT_FOUND: spec(
    'app "{app}" has no release {version}',
    EXIT.failed,
    404,
    'run "berth releases {app}" to see them',
  ),
  BERTH_E_BUILD_NOT_FOUND: spec(
    'app "{app}" has no build {build}',
    EXIT.failed,
    404,
    'run "berth builds:list {app}" to see its builds',
  ),
  BERTH_E_USER_EXISTS: spec('user "{user}" already exists', EXIT.failed, 409, 'pick another name'),
  BERTH_E_USER_HAS_APPS: spec(
    'user "{user}" owns apps: {apps}',
    EXIT.failed,
    409,
    'destroy those apps or give them another owner first',
  ),
  BERTH_E_KEY_NOT_FOUND: spec(
    'no SSH key with fingerprint {fingerprint}',
    EXIT.failed,
    404,
    'run "berth ssh-keys:list" to see the keys',
  ),
  BERTH_E_UNKNOWN_SETTING: spec(
    '{command} has no setting "{key}"',
    EXIT.usage,
    400,
    'use one of: {settings}',
  ),
  BERTH_E_DOMAIN_NOT_FOUND: spec(
    'domain {domain} is not a domain of app "{app}"',
    EXIT.failed,
    404,
    'run "berth domains:report {app}" to see its domains',
  ),
  BERTH_E_DOMAIN_UNKNOWN: spec(
    'no app has the domain {domain}',
    EXIT.failed,
    404,
    'add it to an app first with "berth domains:add APP {domain}"',
  ),
  BERTH_E_CERT_INVALID: spec(
    'the certificate for {domain} is not usable: {reason}',
    EXIT.usage,
    400,
    'give the PEM certificate chain (the certificate for the domain first) and its private key',
  ),
  BERTH_E_CERT_INPUT: spec(
    'the input is not a certificate: {reason}',
    EXIT.usage,
    400,
    'pipe a PEM bundle (certificate chain and private key) or a tar with server.crt and server.key, as in "berth certs:add APP < bundle.pem"',
  ),
  BERTH_E_CERT_NO_DOMAIN: spec(
    'the certificate names {names}; none of them is a domain of app "{app}" ({domains})',
    EXIT.failed,
    422,
    'add the domain first with "berth domains:add {app} DOMAIN", or give a certificate for one of its domains',
  ),
  BERTH_E_CERT_NONE: spec(
    'app "{app}" has no certificate added with certs:add',
    EXIT.failed,
    404,
    'run "berth certs:report {app}" to see its domains and their certificates',
  ),
  BERTH_E_ACME: spec(
    'no certificate for {domain}: {reason}',
    EXIT.failed,
    502,
    'check that the domain points at this server and port 80 reaches Berth; Berth tries again by itself (see "berth certs:report")',
  ),
  BERTH_E_ACME_BUSY: spec(
    'a certificate for {domain} is being ordered already',
    EXIT.failed,
    409,
    'wait for that order to end, then see "berth certs:report"',
  ),
  BERTH_E_CERT_NOT_FOUND: spec(
    'no certificate is recorded for {domain}',
    EXIT.failed,
    404,
    'add one with "berth certs:add" or enable ACME for the domain',
  ),
  BERTH_E_LOGIN_LINK_INVALID: spec(
    'this sign-in link was used already, has expired or never existed',
    EXIT.failed,
    410,
    'run "auth:login" again (ssh -p PORT berth@HOST auth:login) for a new link; each link works once, for 5 minutes',
  ),
  BERTH_E_UNAUTHENTICATED: spec(
    'not signed in: {reason}',
    EXIT.failed,
    401,
    'sign in with the link "auth:login" prints, or send "Authorization: Bearer TOKEN" with a token from "auth:token"',
  ),
  BERTH_E_CSRF: spec(
    'the request has no valid CSRF token',
    EXIT.failed,
    403,
    'reload the page and try again; scripts send the X-CSRF-Token header or use an API token',
  ),
  BERTH_E_WRONG_HOST: spec(
    '{host} does not serve the status page',
    EXIT.failed,
    421,
    'open it at {statusHost} (BERTH_STATUS_HOST), or on the server at the loopback port',
  ),
  BERTH_E_TOO_MANY_STREAMS: spec(
    '{user} has {open} live streams open, the most one user may have',
    EXIT.failed,
    429,
    'close another log or build page (or stream) first; an admin can raise BERTH_LIVE_STREAMS_PER_USER',
  ),
  // A per-user cap (quota:set, BERTH_QUOTA_*): {quota} is its name in quota:set,
  // {cap} a count or, for push-size and disk, a size such as 512m.
  BERTH_E_QUOTA: spec(
    '{reason}: the {quota} quota of {user} is {cap}',
    EXIT.failed,
    403,
    '{remedy}, or ask an admin to raise it (berth quota:set {user} {quota}=N)',
  ),
  BERTH_E_TOKEN_NOT_FOUND: spec(
    'no API token {id}',
    EXIT.failed,
    404,
    'run "berth auth:tokens" to see your tokens',
  ),
  BERTH_E_API_NOT_FOUND: spec(
    'no API endpoint {method} {path}',
    EXIT.failed,
    404,
    'the API is under /api/v1, such as GET /api/v1/apps',
  ),
  BERTH_E_STORE_CORRUPT: spec(
    'the record at Redis key {key} is malformed: {reason}',
    EXIT.failed,
    500,
    'fix or delete that key with redis-cli (see docs/redis-keys.md), or restore a backup',
  ),
  BERTH_E_STORE_SCHEMA: spec(
    'the Redis data under prefix {prefix} has schema version {found}; this Berth reads version {expected}',
    EXIT.failed,
    500,
    'run the Berth release that matches the data, or point REDIS_URL/BERTH_REDIS_PREFIX elsewhere',
  ),
  BERTH_E_BACKUP_ARCHIVE: spec(
    'the archive is not a Berth backup this Berth can restore: {reason}',
    EXIT.failed,
    400,
    'give restore a file berth backup wrote, unchanged; nothing was changed',
  ),
  BERTH_E_BACKUP: spec(
    'the backup failed: {reason}',
    EXIT.failed,
    500,
    'fix the cause and run berth backup again; no archive was kept',
  ),
  BERTH_E_RESTORE_NOT_EMPTY: spec(
    'this Berth already has {count} apps ({apps}); restore would replace them',
    EXIT.failed,
    409,
    'restore onto a fresh Berth, or add --force to replace every app, user and key with the backup',
  ),
  BERTH_E_HOST_KEY: spec(
    'the SSH host key {path} cannot be used: {reason}',
    EXIT.failed,
    500,
    'restore it from a backup, or delete it to make a new one (clients then warn "host key changed")',
  ),
  BERTH_E_SSH_STORE_DOWN: spec(
    'Berth cannot check who you are right now: its Redis does not answer',
    EXIT.failed,
    503,
    'try again in a minute; if it lasts, an admin checks Redis on the server (npm start starts it)',
  ),
  BERTH_E_SSH_NO_SHELL: spec(
    'this server has no shell',
    EXIT.usage,
    400,
    'pass a command, e.g. "ssh -p {port} berth@HOST help"',
  ),
  BERTH_E_SSH_CMD_TOO_LONG: spec(
    'the command is {length} characters long; the most is {max}',
    EXIT.usage,
    400,
    'pass long values on stdin where the command takes them',
  ),
  BERTH_E_INTERNAL: spec(
    'internal error ({id})',
    EXIT.failed,
    500,
    'the server log has the details under that id; try again, or report it',
  ),
  BERTH_E_CONFLICT: spec(
    '{what} changed while this command ran',
    EXIT.failed,
    409,
    'run the command again',
  ),
  BERTH_E_CHANGE_INTERRUPTED: spec(
    '{what} was stopped before it finished: {reason}',
    EXIT.failed,
    503,
    'the previous release keeps serving; make the change again once Berth runs',
  ),
  BERTH_E_GIT_FAILED: spec(
    'git {command} failed: {reason}',
    EXIT.failed,
    500,
    'see the server log; check that git is installed and the data directory is writable',
  ),
  BERTH_E_REPO_EXISTS: spec(
    'a git repository for app "{app}" already exists at {path}',
    EXIT.failed,
    409,
    'move it away or remove it, then run the command again',
  ),
  BERTH_E_BUILD_SOURCE: spec(
    'cannot read commit {rev} of app "{app}": {reason}',
    EXIT.failed,
    500,
    'push again',
  ),
  BERTH_E_BUILD_NO_DOCKERFILE: spec(
    '{path} is not in the commit, and the app builds from a Dockerfile ({why})',
    EXIT.failed,
    422,
    'add it, point builder-dockerfile:set APP dockerfile-path at it, or let Berth detect the builder: builder:set APP selected',
  ),
  BERTH_E_BUILD_NO_BUILDPACK: spec(
    'no Dockerfile, and none of the buildpacks ({tried}) recognises this app',
    EXIT.failed,
    422,
    'add a Dockerfile (Berth builds Node.js, Python, Ruby, PHP and Go apps, static sites and Procfile apps without one)',
  ),
  BERTH_E_BUILD_NO_PROCESSES: spec(
    'the build names no process to run: no Procfile, and the buildpack has no default',
    EXIT.failed,
    422,
    'add a Procfile with a line such as web: ./bin/server',
  ),
  BERTH_E_CONFIG_NOT_SET: spec(
    '{key} is not set for app "{app}"',
    EXIT.failed,
    404,
    'run "berth config:keys {app}" to see what is set',
  ),
  BERTH_E_SCHEDULER_UNKNOWN: spec(
    'no scheduler named "{scheduler}" (there are: {known})',
    EXIT.usage,
    400,
    'choose one of those',
  ),
  BERTH_E_INSTANCE_START: spec(
    'a {type} process of app "{app}" could not start: {reason}',
    EXIT.failed,
    500,
    'check the image and the command (Procfile) of that process type',
  ),
  BERTH_E_DEPLOY_CHECK: spec(
    '{instance} of app "{app}" did not become ready: {reason}',
    EXIT.failed,
    422,
    'the previous release keeps serving; {fix}',
  ),
  BERTH_E_DEPLOY_RELEASE_PHASE: spec(
    'the release phase of app "{app}" failed (exit code {code}): {last}',
    EXIT.failed,
    422,
    "nothing was changed; fix the Procfile's release command (its output is above) and push again",
  ),
  BERTH_E_DEPLOY_PREDEPLOY: spec(
    'predeploy failed for app "{app}" ({how}): {last}',
    EXIT.failed,
    422,
    "nothing changed, the previous release keeps serving; fix app.json's scripts.dokku.predeploy (its last lines are above), push again",
  ),
  BERTH_E_DEPLOY_POSTDEPLOY: spec(
    'postdeploy failed for app "{app}" ({how}): {last}',
    EXIT.failed,
    422,
    'v{version} is live and serves: postdeploy runs after traffic moved (as on Dokku); fix scripts.dokku.postdeploy (its lines are above)',
  ),
  BERTH_E_DEPLOY_CRON_SCHEDULE: spec(
    'app.json {task} of app "{app}": {reason}',
    EXIT.failed,
    422,
    'nothing changed; use five fields (minute hour day-of-month month day-of-week, as "*/5 * * * *") or @hourly, @daily...; push again',
  ),
  BERTH_E_CRON_NOT_FOUND: spec(
    'app "{app}" has no cron task "{id}"',
    EXIT.failed,
    404,
    'cron:list {app} shows its tasks and their ids',
  ),
  BERTH_E_DEPLOY_NO_PROCESS: spec(
    'app "{app}" is scaled to run {type} processes, but the image has no {type} process',
    EXIT.failed,
    422,
    'add it to the Procfile, or scale it to 0',
  ),
  BERTH_E_CONFIG_REQUIRED: spec(
    'app.json of "{app}" requires config vars it does not have: {keys}',
    EXIT.failed,
    409,
    'set them (config:set {app} KEY=value --no-restart), then push again or run ps:rebuild {app}',
  ),
  BERTH_E_PORTS_NO_CERT: spec(
    'the https mapping {mapping} of app "{app}" needs a certificate',
    EXIT.failed,
    409,
    'add one (certs:add {app} or letsencrypt:enable {app}), then ports:add {app} {mapping}',
  ),
  BERTH_E_NO_RELEASE: spec(
    'app "{app}" has no release with an image yet',
    EXIT.failed,
    409,
    'push it first (git push deploy main), or deploy an image with git:from-image',
  ),
  BERTH_E_NO_ROLLBACK_TARGET: spec(
    'app "{app}" has no earlier release to roll back to',
    EXIT.failed,
    409,
    'run "berth releases {app}" to see its releases',
  ),
  BERTH_E_NO_BUILDER: spec(
    'no builder is running, so nothing can be built or deployed',
    EXIT.failed,
    503,
    'check that the builder service runs (see the log of npm start), then try again',
  ),
  BERTH_E_IMAGE_MISSING: spec(
    'image {image} is not on this machine and cannot be pulled: {reason}',
    EXIT.failed,
    422,
    'load it first (docker load, or docker pull where a registry answers), then run git:from-image again',
  ),
  BERTH_E_BUILD_IMAGE_ONLY: spec(
    '{app} deploys prebuilt images (builder:set {app} selected image), so a push is not built',
    EXIT.failed,
    409,
    'deploy with git:from-image {app} IMAGE, or build pushes again: builder:set {app} selected',
  ),
  BERTH_E_BUILD_BASE_IMAGE: spec(
    'base image {image} is not on this machine and cannot be pulled: {reason}',
    EXIT.failed,
    422,
    'use one that is (FROM debian:bookworm-slim always is), or build the base image on this machine first',
  ),
  BERTH_E_IMAGE_NOT_ALLOWED: spec(
    '{image} is not allowed: {reason}',
    EXIT.failed,
    403,
    "use the stack, one of the app's own images or an image the admin allows (BERTH_ALLOWED_BASE_IMAGES)",
  ),
  BERTH_E_BUILD_FAILED: spec('{where}: {reason}', EXIT.failed, 422),
  BERTH_E_BUILD_TIMEOUT: spec(
    'timed out after {duration}',
    EXIT.failed,
    504,
    "the build's containers were stopped; make the build faster or raise the builder's timeout",
  ),
  BERTH_E_BUILD_CANCELLED: spec('cancelled: {reason}', EXIT.failed, 409),
  BERTH_E_BUILD_SUPERSEDED: spec(
    'a newer {what} to {app}{by} replaced this one while it waited; nothing was built from it',
    EXIT.failed,
    409,
    'the newer one builds next; push again if this commit should go live instead',
  ),
  BERTH_E_BUILD_STALLED: spec(
    'the builder running this build stopped and it was not finished ({reason})',
    EXIT.failed,
    500,
    'push again; the builder log says why it stopped',
  ),
  BERTH_E_NODE_VERSION: spec(
    'no Node.js release satisfies engines.node {range}; the available majors are {majors}',
    EXIT.failed,
    422,
    'change engines.node in package.json to a range that includes one of them, such as "{example}"',
  ),
  BERTH_E_NODE_REGISTRY: spec(
    'cannot reach the npm registry {registry} ({reason}) and no cached Node.js satisfies {range} (cached: {cached})',
    EXIT.failed,
    503,
    "check this machine's access to the registry, or set engines.node in package.json to a cached version",
  ),
  BERTH_E_NODE_DOWNLOAD: spec(
    'installing {what} from {url} failed: {reason}',
    EXIT.failed,
    502,
    'build again; if it fails again, check the npm registry or mirror it comes from',
  ),
  BERTH_E_NETWORK_NOT_FOUND: spec(
    'no network named "{network}"',
    EXIT.failed,
    404,
    'network:list shows the networks; an admin makes one with network:create {network}',
  ),
  BERTH_E_NETWORK_EXISTS: spec(
    'network "{network}" already exists',
    EXIT.failed,
    409,
    'pick another name, or attach apps to it: network:set APP attach-post-deploy {network}',
  ),
  BERTH_E_NETWORK_IN_USE: spec(
    'network "{network}" is in use by {users}',
    EXIT.failed,
    409,
    'detach them first ("network:set APP attach-post-deploy" with no names restarts APP off it), then try again',
  ),
  BERTH_E_NETWORK_POOL_FULL: spec(
    'no free /26 is left in BERTH_APP_NETWORKS ({pool}, {count} networks) for network {network}',
    EXIT.failed,
    503,
    'destroy apps or networks no longer used, or give BERTH_APP_NETWORKS a wider private range and restart Berth',
  ),
  BERTH_E_NODE_TOO_OLD: spec(
    'Node.js {version} ({range}) is older than every npm release supports, so its dependencies cannot be installed',
    EXIT.failed,
    422,
    'change engines.node in package.json to "{example}" (a Node.js that npm runs on)',
  ),
  BERTH_E_BUILDPACK_FETCH: spec(
    'fetching the buildpack {url} failed: {reason}',
    EXIT.failed,
    502,
    'check the URL and its #ref (a branch or tag); Berth fetches buildpacks from git repositories on public https hosts, and from those BERTH_BUILDPACK_URLS adds',
  ),
  BERTH_E_DATASTORE_NOT_FOUND: spec(
    'no {title} service named "{name}"',
    EXIT.failed,
    404,
    '{kind}:list shows yours; {kind}:create {name} makes one',
  ),
  BERTH_E_DATASTORE_EXISTS: spec(
    '{title} service "{name}" already exists',
    EXIT.failed,
    409,
    'pick another name, or link it: {kind}:link {name} APP',
  ),
  BERTH_E_DATASTORE_VERSION: spec(
    '{title} has no version "{version}" Berth can build',
    EXIT.usage,
    400,
    'use --image-version with one of {versions}',
  ),
  BERTH_E_DATASTORE_IMAGE: spec(
    'building the image {image} failed: {reason}',
    EXIT.failed,
    500,
    'nothing was made; check that the host reaches its Debian mirror (apt-get update), then try again',
  ),
  BERTH_E_DATASTORE_START: spec(
    '{title} service "{name}" did not start: {reason}',
    EXIT.failed,
    500,
    'see {kind}:logs {name}; nothing of it was kept',
  ),
  BERTH_E_DATASTORE_LINKED: spec(
    '{title} service "{name}" is linked to {apps}',
    EXIT.failed,
    409,
    'unlink it first ({kind}:unlink {name} APP); --force does not destroy a linked service',
  ),
  BERTH_E_DATASTORE_LINK: spec(
    '{title} service "{name}" {reason}',
    EXIT.failed,
    409,
    '{kind}:links {name} shows its links, {kind}:app-links APP those of an app',
  ),
  BERTH_E_DATASTORE_ALIAS_TAKEN: spec(
    'app "{app}" already has {key} set',
    EXIT.failed,
    409,
    'give another --alias, or config:unset {app} {key} first',
  ),
  BERTH_E_DATASTORE_STOPPED: spec(
    '{title} service "{name}" is not running',
    EXIT.failed,
    409,
    'start it: {kind}:start {name}',
  ),
  BERTH_E_DATASTORE_IMPORT: spec(
    'import into {title} service "{name}" refused, nothing changed: {reason}',
    EXIT.failed,
    422,
    'give a dump {kind}:export made',
  ),
  BERTH_E_WEBHOOK_NOT_FOUND: spec(
    'app "{app}" has no webhook {id}',
    EXIT.failed,
    404,
    'list them with notifications:list {app}',
  ),
  BERTH_E_WEBHOOK_LIMIT: spec(
    'app "{app}" has {max} webhooks, the most an app may have',
    EXIT.failed,
    409,
    'remove one first (notifications:remove {app} ID)',
  ),
  BERTH_E_DATASTORE_BACKUP_NOT_FOUND: spec(
    '{title} service "{name}" has no backup "{id}"',
    EXIT.failed,
    404,
    '{kind}:backup-list {name} shows its backups (an id is its time, such as 20261207T212500123Z)',
  ),
  BERTH_E_DATASTORE_BACKUP: spec(
    'backup of {title} service "{name}" failed: {reason}',
    EXIT.failed,
    500,
    'nothing of it was kept; see {kind}:logs {name}, then try again',
  ),
  BERTH_E_DATASTORE_BACKUP_BAD: spec(
    'backup {id} of {title} service "{name}" is not usable: {reason}',
    EXIT.failed,
    422,
    'nothing was changed; restore another backup ({kind}:backup-list {name})',
  ),
  BERTH_E_SWARM_UNSUPPORTED: spec(
    'app "{app}" runs on the swarm scheduler, which cannot {what} yet',
    EXIT.failed,
    501,
    'run it on this machine instead: scheduler:set {app} selected docker-local',
  ),
  BERTH_E_SWARM_NO_TERMINAL: spec(
    'app "{app}" runs on the swarm scheduler, whose one-off tasks run on any node and take no terminal or input',
    EXIT.usage,
    400,
    'run it without a terminal (ssh without -t): its output and exit code come back; or on this machine: scheduler:set {app} selected docker-local',
  ),
  BERTH_E_SWARM_UNREACHABLE: spec(
    'the swarm scheduler cannot reach a manager: {reason}',
    EXIT.failed,
    503,
    "set BERTH_SWARM_MANAGER to a manager node's Engine API (docs/configuration.md)",
  ),
  BERTH_E_REGISTRY: spec(
    "Berth's registry for the swarm is not serving: {reason}",
    EXIT.failed,
    503,
    "check BERTH_SWARM_REGISTRY (docs/configuration.md) and the berth-registry container's log (docker logs berth-registry)",
  ),
  BERTH_E_REGISTRY_PUSH: spec(
    'image {image} could not be pushed to {server}: {reason}',
    EXIT.failed,
    502,
    'check the registry and its credentials (registry:report {app}), then deploy again (ps:rebuild {app})',
  ),
  BERTH_E_DATASTORE_EXPOSE: spec(
    '{title} service "{name}" {reason}',
    EXIT.failed,
    409,
    '{kind}:info {name} --exposed-ports shows where it is published; {kind}:unexpose {name} closes it',
  ),
  BERTH_E_APP_LOCKED: spec(
    'app "{app}" is locked: pushes and deploys are refused',
    EXIT.failed,
    423,
    'unlock it with apps:unlock {app}',
  ),
  BERTH_E_DOCKER_OPTION_REFUSED: spec('docker option {option} refused: {reason}', EXIT.usage, 400),
  BERTH_E_DATASTORE_NO_ENDPOINT: spec(
    'this server sends no backups to S3: BERTH_DATASTORE_S3_ENDPOINT is not set',
    EXIT.failed,
    409,
    'the operator sets the endpoint and its keys (docs/configuration.md); {kind}:backup {name} without a bucket keeps it on this server',
  ),
  BERTH_E_DATASTORE_ENDPOINT: spec(
    'the S3 endpoint {endpoint} {reason}',
    EXIT.failed,
    502,
    'nothing was changed; check the endpoint, the bucket and the keys (BERTH_DATASTORE_S3_*, docs/configuration.md), then try again',
  ),
  BERTH_E_DATASTORE_NO_PASSPHRASE: spec(
    '{title} service "{name}" has no backup passphrase, and backups leave this server only encrypted',
    EXIT.failed,
    409,
    'set one with {kind}:backup-set-encryption {name} PASSPHRASE (keep it somewhere else too: without it no backup in the bucket can be restored)',
  ),
  BERTH_E_DATASTORE_PASSPHRASE: spec(
    'backup {id} of {title} service "{name}" cannot be decrypted: {reason}',
    EXIT.failed,
    422,
    'nothing was changed; set the passphrase it was taken with ({kind}:backup-set-encryption {name} PASSPHRASE) and restore again',
  ),
  BERTH_E_SWARM_NODE_UNKNOWN: spec(
    'swarm node "{node}" not found: {reason}',
    EXIT.failed,
    404,
    'nodes:list shows the nodes with their hostnames and ids',
  ),
  BERTH_E_SWARM_NODE_REMOVE: spec(
    'swarm node "{node}" was not removed: {reason}',
    EXIT.failed,
    409,
    'nodes:report {node} shows it; nodes:drain {node} --undo gives it tasks again',
  ),
  BERTH_E_SWARM_JOIN: spec(
    '{target} did not join the swarm: {reason}',
    EXIT.failed,
    502,
    "Berth's user must reach it with `ssh {target}` without a prompt (its key authorized there, the host key in known_hosts) and Docker must run there; or run the command nodes:add prints on that host",
  ),
  BERTH_E_DATASTORE_UPGRADE: spec(
    '{title} service "{name}" was not upgraded: {reason}',
    EXIT.failed,
    409,
    'it serves as before, on {title} {version}, with its data; {kind}:info {name} shows it',
  ),
  BERTH_E_DOKKU_DIFFERENT: spec('{what}: {why}', EXIT.usage, 501, '{instead}'),
  BERTH_E_GIT_SYNC: spec(
    'git:sync of {url} failed: {reason}',
    EXIT.failed,
    502,
    'Berth fetches from git repositories on public https hosts; check the URL and the ref (a branch, tag or commit)',
  ),
  BERTH_E_ARCHIVE: spec(
    'the archive cannot be deployed: {reason}',
    EXIT.usage,
    400,
    "give a tar (or .tar.gz) or zip of the app's files, with no links or paths that leave it",
  ),
} as const satisfies Record<`BERTH_E_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
type Params = Record<string, string | number>;

const fill = (template: string, params: Params): string =>
  template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in params ? String(params[key]) : whole,
  );

/** Keeps a message on one line, whatever a user put into a value. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly httpStatus: number;
  readonly hint: string | undefined;
  readonly params: Params;

  constructor(code: ErrorCode, params: Params = {}, options?: { cause?: unknown }) {
    const def: ErrorSpec = ERRORS[code];
    super(oneLine(fill(def.message, params)), options);
    this.name = 'BerthError';
    this.code = code;
    this.exitCode = def.exitCode;
    this.httpStatus = def.httpStatus;
    this.hint = def.hint === undefined ? undefined : oneLine(fill(def.hint, params));
    this.params = params;
  }

  /** The line a user sees: what was wrong and what to do next. */
  toLine(): string {
    return this.hint === undefined ? this.message : `${this.message} — ${this.hint}`;
  }
}

export const isBerthError = (e: unknown): e is BerthError => e instanceof BerthError;

/** The one line to print for any error, ours or not. */
export function errorLine(e: unknown): string {
  if (isBerthError(e)) return e.toLine();
  if (e instanceof Error) return oneLine(e.message);
  return oneLine(String(e));
}
