// MySQL as Debian ships it, MariaDB: 10.11 in Debian 12, 11.8 in Debian 13.
import type { DatastoreKind } from '../kind.ts';
import { ENTRYPOINT } from '../kind.ts';

export const mysql: DatastoreKind = {
  name: 'mysql',
  title: 'MySQL (MariaDB)',
  versions: [
    { version: '10.11', suite: 'bookworm', packages: ['mariadb-server', 'mariadb-client'] },
    { version: '11.8', suite: 'trixie', packages: ['mariadb-server', 'mariadb-client'] },
  ],
  entrypoint: 'services/platform/datastores/mysql/entrypoint.sh',
  port: 3306,
  dataPath: '/var/lib/mysql',
  defaultAlias: 'DATABASE',
  // Dokku's form: user mysql, the database named after the service.
  url: ({ host, password, database }) => `mysql://mysql:${password}@${host}:3306/${database}`,
  // mariadbd shuts down cleanly on SIGTERM (it ignores SIGINT).
  stopSignal: 'SIGTERM',
  dumpFormat: "mariadb-dump's SQL",
  healthCommand: [ENTRYPOINT, 'health'],
  clientCommand: [ENTRYPOINT, 'client'],
  dumpCommand: [ENTRYPOINT, 'dump'],
  restoreCommand: [ENTRYPOINT, 'restore'],
};
