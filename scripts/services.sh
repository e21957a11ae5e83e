#!/usr/bin/env bash
# Make sure the services the tests need answer on 127.0.0.1: PostgreSQL 5432, MariaDB 3306,
# Redis 6379. Idempotent: a service already answering is left alone. A missing server is
# installed with apt-get, then started; each start is waited on for at most 30 seconds.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port
    for _ in $(seq 1 60); do
        if answers "$2"; then echo "$1: answering on 127.0.0.1:$2"; return 0; fi
        sleep 0.5
    done
    echo "$1: still not answering on 127.0.0.1:$2 after 30s" >&2
    return 1
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=""
install() { # packages...
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

start_postgres() {
    command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ] || install postgresql
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
}

setup_postgres() { # trust auth for the test user, and the `test` database
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1 \
        || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 \
        || echo "postgres: could not create database 'test' (check pg_hba.conf trust for 127.0.0.1)" >&2
}

start_redis() {
    command -v redis-server >/dev/null || install redis-server
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_mariadb() {
    [ -x /usr/sbin/mariadbd ] || install mariadb-server
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
}

setup_mariadb() {
    mysql -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null \
        || echo "mariadb: could not create database 'test' as root without password" >&2
}

status=0
answers 5432 || start_postgres
wait_for postgres 5432 && setup_postgres || status=1
answers 6379 || start_redis
wait_for redis 6379 || status=1
answers 3306 || start_mariadb
wait_for mariadb 3306 && setup_mariadb || status=1
exit "$status"
