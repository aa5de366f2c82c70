#!/bin/sh
# A Berth mysql datastore's entry point (MariaDB), baked into its image as
# /usr/local/bin/berth-datastore (see ../kind.ts):
#   init      once, on an empty volume: the system tables, a database named
#             $BERTH_DATABASE and a user mysql@'%' with the password read
#             from stdin (never in the container's environment or
#             arguments), allowed that database only; root logs in over the
#             local socket only, as the system's root (unix_socket);
#   (none)    mariadbd in the foreground as the mysql user;
#   health    exits 0 when the server answers a query;
#   client    mariadb on the database (connect), with any options given (enter);
#   dump      mariadb-dump --single-transaction of the database (export);
#   restore   such a dump from stdin: first loaded into a scratch database,
#             and only when that succeeds into the service's (import), so
#             what is not a dump changes nothing;
#   else      the command as given (mariadb in a one-off of the image).
# The commands after init run in the server's container as root over the
# local socket: no password needed.
set -eu
DATA=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
AS_MYSQL="setpriv --reuid=mysql --regid=mysql --init-groups"
database() { cat "$DATA/berth-database"; }
sql() { mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@"; }

case "${1:-serve}" in
init)
  if [ -e "$DATA/berth-database" ]; then
    echo "berth: $DATA already holds a service's data; not initialising" >&2
    exit 1
  fi
  # A new volume starts as a copy of the image's $DATA, which the package
  # filled with a data directory of its own: the service's is made afresh.
  find "$DATA" -mindepth 1 -delete
  # Both go into SQL below: only what needs no quoting is let through.
  case "$BERTH_DATABASE" in '' | *[!a-z0-9_]*)
    echo "berth: invalid database name" >&2
    exit 1
    ;;
  esac
  password=$(head -c 4096)
  case "$password" in '' | *[!A-Za-z0-9._~-]*)
    echo "berth: the password has characters other than A-Z a-z 0-9 -._~" >&2
    exit 1
    ;;
  esac
  install -d -o mysql -g mysql -m 700 "$DATA"
  install -d -o mysql -g mysql -m 755 /run/mysqld
  mariadb-install-db --no-defaults --user=mysql --datadir="$DATA" --skip-test-db \
    --auth-root-authentication-method=socket >/dev/null
  $AS_MYSQL mariadbd --no-defaults --datadir="$DATA" --socket="$SOCKET" --skip-networking \
    --log-error="$DATA/init.log" &
  pid=$!
  i=0
  until sql -e 'SELECT 1' >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "berth: mariadbd did not start: $(tail -n 1 "$DATA/init.log")" >&2
      exit 1
    fi
    sleep 0.2
  done
  # On stdin, not in arguments: the password is in no process's command line.
  sql <<SQL
CREATE DATABASE \`$BERTH_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'mysql'@'%' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON \`$BERTH_DATABASE\`.* TO 'mysql'@'%';
DROP USER IF EXISTS 'mysql'@'localhost';
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
SQL
  printf '%s' "$BERTH_DATABASE" >"$DATA/berth-database"
  kill "$pid"
  wait "$pid" || true
  rm -f "$DATA/init.log"
  echo "berth: initialised MariaDB $(mariadbd --version | sed 's/.*Ver \([^ -]*\).*/\1/')"
  ;;
serve)
  # Made by systemd-tmpfiles on a host; nothing makes it in a container.
  install -d -o mysql -g mysql -m 755 /run/mysqld
  # The buffer pool: a quarter of the container's memory limit (cgroup v2,
  # else v1), at least 32 MB; the rest for connections and sorts.
  limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo max)
  case "$limit" in
  '' | max | *[!0-9]*) pool=134217728 ;;
  *) pool=$((limit / 4)) ;;
  esac
  [ "$pool" -ge 33554432 ] || pool=33554432
  # Its maximum as well: 10.11.19 otherwise reserves address space for a
  # pool of petabytes once the size is given, and aborts when it cannot.
  # exec: mariadbd is the container's main process and gets its signals.
  exec $AS_MYSQL mariadbd --no-defaults --datadir="$DATA" --socket="$SOCKET" \
    --bind-address=0.0.0.0 --port=3306 --innodb-buffer-pool-size="$pool" --innodb-buffer-pool-size-max="$pool" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --skip-name-resolve --log-error=/dev/stderr
  ;;
health) sql -N -e 'SELECT 1' >/dev/null ;;
client)
  shift
  exec mariadb --no-defaults --protocol=socket --socket="$SOCKET" -uroot "$@" "$(database)"
  ;;
dump)
  exec mariadb-dump --no-defaults --protocol=socket --socket="$SOCKET" -uroot \
    --single-transaction --routines --triggers --events --hex-blob "$(database)"
  ;;
restore)
  tmp=$(mktemp -d /tmp/berth-import.XXXXXX)
  scratch="berth_import_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  trap 'sql -e "DROP DATABASE IF EXISTS \`$scratch\`" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  cat >"$tmp/dump.sql"
  # mariadb-dump's first lines name it (after the sandbox-mode line of newer ones).
  if ! head -n 3 "$tmp/dump.sql" | grep -q -E '^-- (MariaDB|MySQL) dump'; then
    echo "berth: not a dump of mariadb-dump or mysqldump (mysql:export makes one)" >&2
    exit 1
  fi
  sql -e "CREATE DATABASE \`$scratch\`"
  # --one-database: statements for another database (after a USE) are skipped.
  if ! out=$(sql --one-database "$scratch" <"$tmp/dump.sql" 2>&1); then
    echo "berth: the dump does not load: $(echo "$out" | tail -n 1 | cut -c1-240)" >&2
    exit 1
  fi
  if ! out=$(sql --one-database "$(database)" <"$tmp/dump.sql" 2>&1); then
    echo "berth: loading the dump failed after it loaded into a scratch database: $(echo "$out" | tail -n 1 | cut -c1-240)" >&2
    exit 1
  fi
  echo "berth: imported"
  ;;
*)
  # Anything else runs as given, so the image also serves as a client's (a one-off running mariadb).
  exec "$@"
  ;;
esac
