// Redis from Debian's packages: 7.0 in Debian 12, 8.0 in Debian 13.
import type { DatastoreKind } from '../kind.ts';
import { ENTRYPOINT } from '../kind.ts';

export const redis: DatastoreKind = {
  name: 'redis',
  title: 'Redis',
  versions: [
    { version: '7', suite: 'bookworm', packages: ['redis-server'] },
    { version: '8', suite: 'trixie', packages: ['redis-server'] },
  ],
  entrypoint: 'services/platform/datastores/redis/entrypoint.sh',
  port: 6379,
  dataPath: '/var/lib/redis',
  defaultAlias: 'REDIS',
  // Dokku writes no user (redis://:PASSWORD@); Redis' own redis-cli -u then
  // authenticates as the user "" and is refused. "default" is the user a
  // password-only AUTH means (Redis 6 and later), which every client sends.
  url: ({ host, password }) => `redis://default:${password}@${host}:6379`,
  // Redis shuts down cleanly (the AOF flushed) on SIGTERM.
  stopSignal: 'SIGTERM',
  dumpFormat: 'an RDB file',
  healthCommand: [ENTRYPOINT, 'health'],
  clientCommand: [ENTRYPOINT, 'client'],
  dumpCommand: [ENTRYPOINT, 'dump'],
  restoreCommand: [ENTRYPOINT, 'restore'],
};
