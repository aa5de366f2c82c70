// The types both sides of the build queue share: the git receiver (which
// enqueues a build and follows it) and the builder (which runs it). The
// contract they implement is described at the top of ./queue.ts.
import type { CronSpec, EnvSpec } from './app-json.ts';

/** What every build request has. */
interface RequestBase {
  /** The app (validate.appName). */
  app: string;
  /** Who asked (a user name, or `root`). */
  pusher: string;
  /**
   * Whose quota the build counts against, and whose turn it takes in the
   * queue: the app's owner when it was enqueued (collaborators' pushes count
   * against the owner). Absent from jobs enqueued before this field.
   */
  owner?: string;
  /** When the build was asked for (ISO 8601, UTC). */
  requestedAt: string;
  /**
   * berth restore makes an image a release names again: the build keeps
   * that image's build id (so the release's image is the same name),
   * deploys nothing and counts against no quota.
   */
  restore?: true;
}

/** A push (or a rebuild) asks for a commit to be built: the job data of a `builds` queue job. */
export interface GitBuildRequest extends RequestBase {
  /** The commit to build: 40 lower-case hex digits. */
  rev: string;
  /** The ref that was pushed, `refs/heads/<deploy branch>`. */
  ref: string;
  /**
   * While the push waits for its build, `rev` and the objects pushed with it
   * are only in the push's quarantine directory (git moves them into the
   * repository after the pre-receive hook accepts the push). Absolute path,
   * inside `<repo>/objects/`; read the commit with
   * `GIT_OBJECT_DIRECTORY=<quarantine> GIT_ALTERNATE_OBJECT_DIRECTORIES=<repo>/objects`.
   * Removed by git when the push ends. Absent when the commit is already in
   * the repository (a rebuild).
   */
  quarantine?: string;
  /**
   * A push waits for this build and updates its branch only if it succeeds:
   * the build goes live only while the push still waits (push-waiter.ts).
   */
  waited?: true;
  image?: undefined;
}

/** git:from-image asks for a prebuilt image to become the app's next image. */
export interface ImageBuildRequest extends RequestBase {
  /** An image on the Engine or pullable (validate.imageRef). */
  image: string;
  rev?: undefined;
  ref?: undefined;
  quarantine?: undefined;
  waited?: undefined;
}

export type BuildRequest = GitBuildRequest | ImageBuildRequest;

export type BuildStatus = 'succeeded' | 'failed';

/** How a build ended. */
export interface BuildResult {
  status: BuildStatus;
  /** One line saying what went wrong, when the build failed. */
  error?: string;
  /**
   * `release` when the image was built but its release did not go live (a
   * failed check, a start that failed): the previous release serves on.
   */
  failedAt?: 'release';
  /**
   * The image the build made (`berth/<app>:<build id>`), when it succeeded.
   * Absent from the results of builders older than this field.
   */
  image?: string;
  /**
   * The app's process types (Procfile, else the buildpack's defaults), when
   * it succeeded: type → command; null for `web` of a Dockerfile image that
   * runs its own ENTRYPOINT/CMD. Absent from builders older than this field.
   */
  processes?: Record<string, string | null>;
  /**
   * The commit's app.json startup healthchecks by process type, for the
   * deploy step in the same process (not written to the log stream).
   */
  healthchecks?: Record<string, unknown[]>;
  /** app.json's formation, when it gives quantities (it then sets the scale). */
  formation?: Record<string, number>;
  /** app.json's env entries, applied by the deploy step (../release/app-env.ts). */
  env?: Record<string, EnvSpec>;
  /**
   * The TCP ports a Dockerfile or prebuilt image EXPOSEs, the first first
   * (./exposed-ports.ts); [] for a buildpack build (5000). Absent from
   * builders older than this field.
   */
  exposedPorts?: number[];
  /** app.json's scripts.dokku.predeploy / postdeploy, run by the deploy step. */
  scripts?: { predeploy?: string; postdeploy?: string };
  /** app.json's cron tasks, scheduled by the deploy step once the release is live. */
  cron?: CronSpec[];
}

/** One entry of a build's log stream. */
export type BuildLogEntry = { type: 'line'; text: string } | ({ type: 'end' } & BuildResult);
