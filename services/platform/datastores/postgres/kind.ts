// PostgreSQL from Debian's packages: 15 in Debian 12, 17 in Debian 13.
import type { DatastoreKind } from '../kind.ts';
import { ENTRYPOINT } from '../kind.ts';

export const postgres: DatastoreKind = {
  name: 'postgres',
  title: 'PostgreSQL',
  versions: [
    { version: '15', suite: 'bookworm', packages: ['postgresql-15'] },
    { version: '17', suite: 'trixie', packages: ['postgresql-17'] },
  ],
  entrypoint: 'services/platform/datastores/postgres/entrypoint.sh',
  port: 5432,
  dataPath: '/var/lib/postgresql/data',
  defaultAlias: 'DATABASE',
  url: ({ host, password, database }) => `postgres://postgres:${password}@${host}:5432/${database}`,
  // Postgres stops at once, cleanly, on SIGINT ("fast" shutdown); SIGTERM waits for clients.
  stopSignal: 'SIGINT',
  dumpFormat: "pg_dump's custom format",
  healthCommand: [ENTRYPOINT, 'health'],
  clientCommand: [ENTRYPOINT, 'client'],
  dumpCommand: [ENTRYPOINT, 'dump'],
  restoreCommand: [ENTRYPOINT, 'restore'],
};
