#!/bin/sh
# A Berth postgres datastore's entry point, baked into its image as
# /usr/local/bin/berth-datastore (see ../kind.ts):
#   init      once, on an empty volume: initdb with the password read from
#             stdin (never in the container's environment or arguments), a
#             database named $BERTH_DATABASE, network logins by password;
#   (none)    the server, in the foreground, as the postgres user;
#   health    exits 0 when the server accepts a query;
#   client    psql on the database (connect);
#   dump      pg_dump of the database, custom format, to stdout (export);
#   restore   pg_restore of such a dump from stdin into the database (import);
#   else      the command as given (psql in a one-off of the image).
# The commands after init run in the server's container as the postgres
# user over the local socket (peer authentication): no password needed.
set -eu
DATA=/var/lib/postgresql/data
BIN=$(echo /usr/lib/postgresql/*/bin)
# Split on purpose where used: the command that runs the rest as postgres.
AS_POSTGRES="setpriv --reuid=postgres --regid=postgres --init-groups"
# The database is the one init made (its name is in the data directory).
database() { cat "$DATA/berth-database"; }

case "${1:-serve}" in
init)
  if [ -s "$DATA/PG_VERSION" ]; then
    echo "berth: $DATA already holds a cluster; not initialising" >&2
    exit 1
  fi
  install -d -o postgres -g postgres -m 700 "$DATA"
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  pwfile=$(mktemp)
  chown postgres "$pwfile"
  head -c 4096 >"$pwfile"
  $AS_POSTGRES "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$DATA/postgresql.conf"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$DATA/pg_hba.conf"
  printf '%s' "$BERTH_DATABASE" >"$DATA/berth-database"
  $AS_POSTGRES "$BIN/pg_ctl" -D "$DATA" -w -o "-c listen_addresses=''" start >/dev/null
  # psql quotes the name (:"db"); -c would not interpolate it, stdin does.
  echo 'CREATE DATABASE :"db";' |
    $AS_POSTGRES "$BIN/psql" -q -v ON_ERROR_STOP=1 -v db="$BERTH_DATABASE" postgres
  $AS_POSTGRES "$BIN/pg_ctl" -D "$DATA" -w stop >/dev/null
  echo "berth: initialised PostgreSQL $(cat "$DATA/PG_VERSION")"
  ;;
serve)
  # Made by systemd-tmpfiles on a host; nothing makes it in a container.
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  # exec: postgres is the container's main process and gets its signals.
  exec $AS_POSTGRES "$BIN/postgres" -D "$DATA"
  ;;
health) exec $AS_POSTGRES "$BIN/psql" -qtAX -c 'SELECT 1' -d "$(database)" >/dev/null ;;
client) exec $AS_POSTGRES "$BIN/psql" -d "$(database)" ;;
dump) exec $AS_POSTGRES "$BIN/pg_dump" -Fc --no-owner --no-acl -d "$(database)" ;;
restore)
  exec $AS_POSTGRES "$BIN/pg_restore" --clean --if-exists --no-owner --no-acl \
    --exit-on-error --single-transaction -d "$(database)"
  ;;
*)
  # Anything else runs as given, as the official images' entry points do, so
  # the image also serves as a client's (a one-off running psql).
  exec "$@"
  ;;
esac
