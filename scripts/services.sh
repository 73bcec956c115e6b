#!/usr/bin/env bash
# Start the local services the test suite talks to (Redis, RabbitMQ, PostgreSQL) if they
# are not already up, installing the Debian packages with apt-get when they are missing.
# Loopback only; safe to run many times. Exits non-zero, naming each failure, when a
# service could not be started.
# Usage: scripts/services.sh [redis] [rabbitmq] [postgres]   (no arguments: all three)
set -u
want=("$@"); [ ${#want[@]} -eq 0 ] && want=(redis rabbitmq postgres)

say() { echo "services.sh: $*" >&2; }
up() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 "${2:-60}"); do up "$1" && return 0; sleep 1; done
  say "port $1 did not open within ${2:-60}s"; return 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }

apt_updated=0
need_pkg() {  # need_pkg COMMAND PACKAGE: install PACKAGE unless COMMAND is on PATH
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] || [ -x "/usr/lib/rabbitmq/bin/$1" ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then say "$2 is not installed and apt-get is missing"; return 1; fi
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  say "installing $2"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$2" \
    >/dev/null 2>&1 || { say "apt-get install $2 failed"; return 1; }
}

start_redis() {
  up 6379 && return 0
  need_pkg redis-server redis-server || return 1
  mkdir -p /tmp/celeriac-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/celeriac-redis --logfile /tmp/celeriac-redis/redis.log >/dev/null 2>&1
  wait_port 6379 30
}

start_rabbitmq() {
  up 5672 && return 0
  need_pkg rabbitmq-server rabbitmq-server || return 1
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=rabbit@localhost
  as_root env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODENAME=rabbit@localhost \
    rabbitmq-server -detached >/dev/null 2>&1
  wait_port 5672 90
}

start_postgres() {
  up 5432 && return 0
  need_pkg pg_ctlcluster postgresql || return 1
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
  if [ -z "$version" ]; then say "postgresql is installed but has no cluster"; return 1; fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1
  wait_port 5432 30
}

failed=()
for s in "${want[@]}"; do
  case "$s" in
    redis|rabbitmq|postgres)
      if "start_$s"; then say "$s is up"; else failed+=("$s"); fi ;;
    *) say "unknown service $s"; failed+=("$s") ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  say "could not start: ${failed[*]}"
  exit 1
fi
