// A kind of datastore (postgres, redis, mysql): everything Berth needs to
// know about one server program, kept in the kind's own folder (its image
// recipe, entry point, client, dump and restore), so that another kind is
// one more folder and one more line in kinds.ts.
//
// Every kind's image has its entry point at ENTRYPOINT, which takes:
//   init     once, on the empty data volume, the password on stdin;
//   (none)   the server in the foreground;
// and every other command the kind lists (client, dump, restore) runs in
// the running container with `docker exec`, reading the password from the
// data volume, so that no secret is in a container's environment.

/** Where each kind's entry point is in its image. */
export const ENTRYPOINT = '/usr/local/bin/berth-datastore';

/** One version Berth can build, from a Debian suite's packages. */
export interface KindVersion {
  /** As users give it: `--image-version 15`. */
  version: string;
  /** The Debian suite whose packages have it (the host's apt reaches it). */
  suite: string;
  /** The packages, beyond the essentials, without their Recommends. */
  packages: readonly string[];
}

export interface DatastoreKind {
  /** The command namespace (`postgres:create`) and the label value. */
  name: 'postgres' | 'redis' | 'mysql';
  /** As people write it: PostgreSQL. */
  title: string;
  /** Oldest first; the last is what `create` makes without --image-version. */
  versions: readonly KindVersion[];
  /** The entry point's source (a POSIX sh script, a path from the repository's root), baked into the image. */
  entrypoint: string;
  /** The port the server listens on inside its container. */
  port: number;
  /** Where its data volume is mounted. */
  dataPath: string;
  /** The config var a link sets when no alias is given (`DATABASE_URL`). */
  defaultAlias: string;
  /** The URL a linked app gets. */
  url(o: { host: string; password: string; database: string }): string;
  /** The signal that stops the server cleanly and at once (the container's StopSignal). */
  stopSignal: 'SIGINT' | 'SIGTERM';
  /** What export writes, as help says it. */
  dumpFormat: string;
  /** Exits 0 when the server answers (run in its container). */
  healthCommand: readonly string[];
  /** An interactive client (connect). */
  clientCommand: readonly string[];
  /** Writes a dump of the whole datastore to stdout (export). */
  dumpCommand: readonly string[];
  /** Reads a dump of export from stdin into the datastore (import). */
  restoreCommand: readonly string[];
  /**
   * What `backup --verify` compares (optional: without it a dump is verified
   * by its restore alone): `live` prints a count of what the running
   * datastore holds (tables, keys), `dump` the same count of a dump read
   * from stdin, so that a dump restored into a scratch server is checked
   * to hold all that its own table of contents names.
   */
  countCommands?: { live: readonly string[]; dump: readonly string[] };
}

/** The database name a datastore serves: its name, with "_" for "-" (as Dokku does). */
export const databaseName = (name: string): string => name.replaceAll('-', '_');
