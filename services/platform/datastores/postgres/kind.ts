// PostgreSQL from Debian's packages: 15 in Debian 12, 17 in Debian 13.
import type { DatastoreKind } from '../kind.ts';
import { ENTRYPOINT } from '../kind.ts';

const DATA = '/var/lib/postgresql/data';

export const postgres: DatastoreKind = {
  name: 'postgres',
  title: 'PostgreSQL',
  versions: [
    { version: '15', suite: 'bookworm', packages: ['postgresql-15'] },
    { version: '17', suite: 'trixie', packages: ['postgresql-17'] },
  ],
  entrypoint: 'services/platform/datastores/postgres/entrypoint.sh',
  port: 5432,
  dataPath: DATA,
  defaultAlias: 'DATABASE',
  url: ({ host, password, database }) => `postgres://postgres:${password}@${host}:5432/${database}`,
  // Postgres stops at once, cleanly, on SIGINT ("fast" shutdown); SIGTERM waits for clients.
  stopSignal: 'SIGINT',
  dumpFormat: "pg_dump's custom format",
  healthCommand: [ENTRYPOINT, 'health'],
  clientCommand: [ENTRYPOINT, 'client'],
  dumpCommand: [ENTRYPOINT, 'dump'],
  restoreCommand: [ENTRYPOINT, 'restore'],
  // Plain sh in the image (no entry point change, so no image to build
  // again): the user tables of the database, and the TABLE entries of a
  // dump's table of contents ("215; 1259 16385 TABLE public t postgres", not
  // its "TABLE DATA" entries);
  // a dump pg_restore cannot read fails the assignment under set -e.
  countCommands: {
    live: [
      'sh',
      '-c',
      `exec setpriv --reuid=postgres --regid=postgres --init-groups "$(echo /usr/lib/postgresql/*/bin)/psql" -qtAX -d "$(cat ${DATA}/berth-database)" -c "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"`,
    ],
    dump: [
      'sh',
      '-c',
      'set -e; toc=$("$(echo /usr/lib/postgresql/*/bin)/pg_restore" -l); printf "%s\\n" "$toc" | grep -E "^[0-9]+; [0-9]+ [0-9]+ TABLE " | grep -Evc " TABLE DATA " || true',
    ],
  },
};
