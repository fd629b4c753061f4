#!/usr/bin/env bash
# lib.sh: shared steps of `make test`, `make demo` and the benchmarks:
# install what is missing, build and install, run a private throwaway
# cluster (as the postgres user, socket in its own directory, pg_cron
# preloaded).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# what the build and the tests need besides a PostgreSQL server (pg.sh finds
# or builds that one: PG_MAJOR, default the major Debian packages here)
PACKAGES="libtap-parser-sourcehandler-pgtap-perl libcjson-dev libxlsxwriter-dev libzip-dev libexpat1-dev libicu-dev
          python3-openpyxl make gcc g++ clang libclang-rt-14-dev libphonenumber-dev libprotobuf-dev python3 bc
          cppcheck clang-tidy"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
source "$ROOT/test/scripts/pg.sh"
PG_MAJOR=${PG_MAJOR:-$(packaged_major)}
PG_MAJOR=${PG_MAJOR:-15}
# PGBIN: given, or the major's server when it is already there (ensure_deps
# finds or builds it otherwise); its bin directory leads PATH, so psql,
# pg_prove and pg_dump are that major's
if [ -z "${PGBIN:-}" ]; then
    if pg_installed_complete "$PG_MAJOR"; then PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
    elif d=$(pg_cache_dir "$PG_MAJOR" 2>/dev/null) && [ -f "$d/.complete" ]; then PGBIN=$d/bin
    else PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin; fi
fi
export PG_MAJOR PGBIN PATH="$PGBIN:$PATH"

ensure_deps() {
    apt_install_missing $PACKAGES
    PGBIN=$(pg_bindir "$PG_MAJOR")
    export PGBIN PATH="$PGBIN:$PATH"
}

# build_install: build for PGBIN's server and install there (objects built
# for another major are cleaned first: make cannot tell them apart)
build_install() {
    local stamp="$ROOT/.built-for" want
    want=$($PGBIN/pg_config --version)
    echo "== building and installing customercard ($want)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config clean >/dev/null
        echo "$want" > "$stamp"
    fi
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
