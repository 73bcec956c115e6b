#!/usr/bin/env bash
# Start the local services the test suite talks to (Redis, RabbitMQ, PostgreSQL, MariaDB) if they
# are not already up, installing the Debian packages with apt-get when they are missing.
# Loopback only; safe to run many times. Exits non-zero, naming each failure, when a
# service could not be started.
# Also installs the programs the Django tests run (supervisord for deploy/, Chromium for the
# browser tests); they are not services, so nothing is started for them.
# MariaDB also gets the test user the suite connects as (celeriac/celeriac on 127.0.0.1 and
# localhost, allowed to create and drop the databases named celeriac_* and test_celeriac_*),
# made through root's unix socket; that step is idempotent and runs on an already running
# server too.
# Usage: scripts/services.sh [redis] [rabbitmq] [postgres] [mariadb] [supervisor] [chromium]
#        (no arguments: all of them)
set -u
want=("$@"); [ ${#want[@]} -eq 0 ] && want=(redis rabbitmq postgres mariadb supervisor chromium)

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

mariadb_root() { as_root mysql --protocol=socket -uroot "$@"; }
start_mariadb() {
  if ! up 3306; then
    need_pkg mariadbd mariadb-server || return 1
    # Debian's package binds to 127.0.0.1; its init script works without systemd
    if ! { as_root service mariadb start || as_root /etc/init.d/mariadb start; } >/dev/null 2>&1; then
      as_root mkdir -p /run/mysqld && as_root chown mysql: /run/mysqld 2>/dev/null
      (as_root mysqld_safe --bind-address=127.0.0.1 --port=3306 >/dev/null 2>&1 &)
    fi
    wait_port 3306 60 || return 1
  fi
  # the test user: CELERIAC_TEST_MYSQL's default (tests/helpers/services.py)
  mysql --protocol=tcp -h127.0.0.1 -uceleriac -pceleriac -e "USE celeriac_test" >/dev/null 2>&1 \
    && return 0
  mariadb_root -e "
    CREATE USER IF NOT EXISTS 'celeriac'@'127.0.0.1' IDENTIFIED BY 'celeriac';
    CREATE USER IF NOT EXISTS 'celeriac'@'localhost' IDENTIFIED BY 'celeriac';
    GRANT ALL PRIVILEGES ON \`celeriac\\_%\`.* TO 'celeriac'@'127.0.0.1', 'celeriac'@'localhost';
    GRANT ALL PRIVILEGES ON \`test\\_celeriac\\_%\`.* TO 'celeriac'@'127.0.0.1', 'celeriac'@'localhost';
    CREATE DATABASE IF NOT EXISTS celeriac_test CHARACTER SET utf8mb4;" 2>/dev/null \
    || { say "could not create MariaDB's test user (mysql -uroot over the unix socket failed)"; return 1; }
}

start_supervisor() { need_pkg supervisord supervisor; }
start_chromium() { need_pkg chromium chromium; }

failed=()
for s in "${want[@]}"; do
  case "$s" in
    redis|rabbitmq|postgres|mariadb|supervisor|chromium)
      if "start_$s"; then say "$s is up"; else failed+=("$s"); fi ;;
    *) say "unknown service $s"; failed+=("$s") ;;
  esac
done
if [ ${#failed[@]} -gt 0 ]; then
  say "could not start: ${failed[*]}"
  exit 1
fi
