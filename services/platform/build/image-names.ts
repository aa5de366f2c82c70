// The names of what builds leave on the Docker Engine, in one place: the
// builder makes them, retention and apps:destroy find them by these names.

/** The image repository of an app's builds. */
export const appImageRepo = (app: string): string => `berth/${app}`;
/** The image a build makes: `berth/<app>:<build id>`. */
export const buildImageRef = (app: string, id: string): string => `${appImageRepo(app)}:${id}`;
/** The cache volume of an app's buildpack builds (CACHE_DIR), removed with the app. */
export const cacheVolumeName = (app: string): string => `berth-cache-${app}`;
