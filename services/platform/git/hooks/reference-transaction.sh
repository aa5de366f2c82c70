#!/bin/sh
# Berth: once git has updated a repository's refs (a push accepted by the
# pre-receive hook), the refs and the objects they name reach the disk
# before git tells the pusher "ok". git fsyncs a ref's file (core.fsync) but
# not the rename that puts it in place, nor the folders its objects moved
# into from the quarantine, so after a power cut an acknowledged push was
# gone. syncfs(2) of the repository's file system (sync -f) writes them all.
# $1: prepared, committed or aborted; the ref lines come on stdin.
cat >/dev/null
[ "$1" = committed ] || exit 0
exec sync -f .
