#!/bin/sh
# A Berth redis datastore's entry point, baked into its image as
# /usr/local/bin/berth-datastore (see ../kind.ts):
#   init      once, on an empty volume: the password read from stdin (never
#             in the container's environment or arguments) into
#             $DATA/berth-password, mode 600, owned by redis;
#   (none)    redis-server in the foreground as the redis user, its
#             configuration written at each start into $DATA/redis.conf
#             (mode 600: it holds requirepass): AOF every second, maxmemory
#             from the container's memory limit, noeviction;
#   health    exits 0 when the server answers PING with PONG;
#   client    redis-cli (connect), with any arguments given (enter);
#   dump      an RDB of the whole key space to stdout (export);
#   restore   such an RDB from stdin replaces the key space (import), or is
#             refused with nothing changed;
#   else      the command as given (redis-cli in a one-off of the image).
# The commands after init run in the server's container over 127.0.0.1,
# the password passed to redis-cli in REDISCLI_AUTH of that one process.
set -eu
DATA=/var/lib/redis
AS_REDIS="setpriv --reuid=redis --regid=redis --init-groups"
# redis-cli with the password, never on its command line (ps would show it).
rcli() { REDISCLI_AUTH=$(cat "$DATA/berth-password") redis-cli --no-auth-warning "$@"; }

case "${1:-serve}" in
init)
  if [ -s "$DATA/berth-password" ]; then
    echo "berth: $DATA already holds a Redis password; not initialising" >&2
    exit 1
  fi
  install -d -o redis -g redis -m 700 "$DATA"
  umask 077
  password=$(head -c 4096)
  # Written into redis.conf at each start: only characters a config line and a URL carry as they are.
  case "$password" in
  '' | *[!A-Za-z0-9._~-]*)
    echo "berth: the password has characters other than A-Z a-z 0-9 -._~" >&2
    exit 1
    ;;
  esac
  printf '%s' "$password" >"$DATA/berth-password"
  chown redis:redis "$DATA/berth-password"
  echo "berth: initialised Redis $(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')"
  ;;
serve)
  # The container's memory limit (cgroup v2, else v1): Redis keeps 70% of
  # it for data, the rest for the fork that rewrites the AOF (copy on write),
  # connections and buffers, so the kernel does not kill it when full.
  limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo max)
  case "$limit" in
  '' | max | *[!0-9]*) maxmemory=0 ;;
  *) maxmemory=$((limit / 10 * 7)) ;;
  esac
  umask 077
  # repl-diskless-sync-delay 0: export's RDB is sent at once (it is the
  # only replica; the default waits 5 s for others).
  # noeviction: when full, writes fail with an OOM error and nothing is
  # thrown away (queues such as Sidekiq's and Celery's lose no job), as on
  # Heroku; a cache can choose allkeys-lru with CONFIG SET.
  cat >"$DATA/redis.conf" <<CONF
bind * -::*
port 6379
protected-mode no
dir $DATA
requirepass $(cat "$DATA/berth-password")
appendonly yes
appendfsync everysec
maxmemory $maxmemory
maxmemory-policy noeviction
repl-diskless-sync-delay 0
daemonize no
supervised no
logfile ""
CONF
  chown redis:redis "$DATA/redis.conf"
  chmod 600 "$DATA/redis.conf"
  # exec: redis-server is the container's main process and gets its signals.
  exec $AS_REDIS redis-server "$DATA/redis.conf"
  ;;
health) [ "$(rcli ping)" = PONG ] ;;
client)
  shift
  rcli "$@"
  ;;
dump)
  # The server's own RDB of the key space, sent as to a replica (redis-cli's progress on stderr).
  rcli --rdb -
  ;;
restore)
  tmp=$(mktemp -d /tmp/berth-import.XXXXXX)
  pid=
  # The second server gone (it writes its log as it stops) before its files go.
  cleanup() {
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp" || true
  }
  trap cleanup EXIT
  cat >"$tmp/dump.rdb"
  if [ "$(head -c 5 "$tmp/dump.rdb")" != REDIS ]; then
    echo "berth: not a Redis dump: an RDB starts with REDIS (redis:export makes one)" >&2
    exit 1
  fi
  chown -R redis:redis "$tmp"
  # A second server, on loopback only, loads the dump: a dump it cannot
  # load (cut short, corrupt, of a newer Redis) stops here, nothing changed.
  $AS_REDIS redis-server --port 16379 --bind 127.0.0.1 --dir "$tmp" --dbfilename dump.rdb \
    --appendonly no --save '' --logfile "$tmp/log" --maxmemory 0 --repl-diskless-sync-delay 0 \
    >"$tmp/out" 2>&1 &
  pid=$!
  while [ "$(redis-cli -p 16379 ping 2>/dev/null)" != PONG ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "berth: not a dump this Redis loads: $(grep -v '^$' "$tmp/log" | tail -n 1 | cut -c1-200)" >&2
      exit 1
    fi
    sleep 0.2
  done
  # The service replicates it: its key space is replaced only when the
  # whole of it has arrived, then it serves on its own again.
  rcli replicaof 127.0.0.1 16379 >/dev/null
  i=0
  until rcli info replication | tr -d '\r' | grep -q '^master_link_status:up$' &&
    rcli info replication | tr -d '\r' | grep -q '^master_sync_in_progress:0$'; do
    i=$((i + 1))
    if [ "$i" -gt 3000 ]; then
      rcli replicaof no one >/dev/null
      echo "berth: the service did not take the dump within 10 minutes" >&2
      exit 1
    fi
    sleep 0.2
  done
  rcli replicaof no one >/dev/null
  echo "berth: imported $(rcli dbsize) keys"
  ;;
*)
  # Anything else runs as given, so the image also serves as a client's (a one-off running redis-cli).
  exec "$@"
  ;;
esac
