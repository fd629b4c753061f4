#!/usr/bin/env bash
# lib.sh: shared steps of `make test`, `make demo` and the benchmarks:
# install what is missing, build and install, run a private throwaway
# cluster (as the postgres user, socket in its own directory, pg_cron
# preloaded).
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-15-pgtap
          libtap-parser-sourcehandler-pgtap-perl libcjson-dev libxlsxwriter-dev libzip-dev libexpat1-dev libicu-dev python3-openpyxl make gcc g++ clang libclang-rt-14-dev
          libphonenumber-dev libprotobuf-dev python3 bc"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_deps() {
    local missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "== installing:$missing"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $missing >/dev/null
    fi
}

build_install() {
    echo "== building and installing customercard"
    make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config >/dev/null
    as_root make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config install >/dev/null
}

# init_node DATA PORT SOCKETDIR LISTEN PRELOAD CRONDB MAXCONN SHAREDBUFFERS:
# initdb as postgres (trust auth) and the settings every test server runs with
init_node() {
    as_root runuser -u postgres -- $PGBIN/initdb -D "$1" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_root runuser -u postgres -- tee -a "$1/postgresql.conf" >/dev/null <<CONF
port = $2
listen_addresses = '$4'
unix_socket_directories = '$3'
shared_preload_libraries = '$5'
cron.database_name = '$6'
max_connections = $7
shared_buffers = $8
fsync = ${CC_FSYNC:-off}
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
CONF
}

# start_cluster DIR PORT: a fresh cluster in DIR, listening on a socket in DIR
start_cluster() {
    local dir=$1 port=$2
    as_root mkdir -p "$dir"
    as_root chown postgres:postgres "$dir"
    as_root chmod 755 "$dir"
    init_node "$dir/data" "$port" "$dir" '' pg_cron cc_cron 50 "${CC_SHARED_BUFFERS:-512MB}"
    as_root runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    export PGHOST=$dir PGPORT=$port PGUSER=postgres
    psql -X -q -d postgres -c "CREATE DATABASE cc_cron" >/dev/null
    psql -X -q -d cc_cron -c "CREATE EXTENSION pg_cron" >/dev/null
}

stop_cluster() {
    local dir=$1
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_root runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    as_root rm -rf "$dir"
}

free_port() {
    python3 - <<'PY' 2>/dev/null || echo 55432
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}
