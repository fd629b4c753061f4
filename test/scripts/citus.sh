#!/usr/bin/env bash
# citus.sh: sourced by the Citus suite and bench/citus.sh.  Citus is not in
# Debian: an installed Citus is used as is; otherwise it is built once from
# its source tarball (CITUS_TARBALL, default ../shared/citus/citus-13.2.2.tar.gz
# beside the project for PostgreSQL 15 and 17, citus-14.0.1.tar.gz for 18)
# and the installed files are cached outside the work tree (CITUS_CACHE,
# default /var/cache/customercard-citus), keyed by the tarball's sha256 and
# the PostgreSQL version, so the next run copies them in.
# citus_cluster DIR starts a coordinator (pg_cron preloaded) and two workers
# on 127.0.0.1, forms the cluster and creates database CITUS_DB on all three.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Citus 13 is the last line for 15 (and covers 17); Citus 14 covers 16-18
if [ "$PG_MAJOR" -ge 18 ]; then CITUS_VERSION=14.0.1; else CITUS_VERSION=13.2.2; fi
CITUS_TARBALL=${CITUS_TARBALL:-$ROOT/../shared/citus/citus-$CITUS_VERSION.tar.gz}
CITUS_CACHE=${CITUS_CACHE:-/var/cache/customercard-citus}
CITUS_DB=${CITUS_DB:-cc_citus}
CITUS_BUILD_DEPS="libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libpam0g-dev
                  libxslt1-dev libssl-dev"

citus_installed() {
    [ -f "$($PGBIN/pg_config --pkglibdir)/citus.so" ] && [ -f "$($PGBIN/pg_config --sharedir)/extension/citus.control" ]
}

# citus_available: installed, or a tarball to build it from
citus_available() { citus_installed || [ -f "$CITUS_TARBALL" ]; }

ensure_citus() {
    citus_installed && return 0
    [ -f "$CITUS_TARBALL" ] || { echo "no Citus installed and no tarball at $CITUS_TARBALL" >&2; return 1; }
    local key dest
    key=$(sha256sum "$CITUS_TARBALL" | cut -c1-16)-pg$($PGBIN/pg_config --version | awk '{print $2}')
    dest=$CITUS_CACHE/$key
    if [ ! -f "$dest/.complete" ]; then
        echo "== building Citus from $(basename "$CITUS_TARBALL") (once; cached in $dest)"
        local missing="" p
        for p in $CITUS_BUILD_DEPS; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
        done
        if [ -n "$missing" ]; then
            as_root apt-get update -qq
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $missing >/dev/null
        fi
        local src
        src=$(mktemp -d /tmp/citus-build.XXXXXX)
        tar -xzf "$CITUS_TARBALL" -C "$src"
        src=$(echo "$src"/citus-*)
        # PostgreSQL 15.20 (and 17) export have_createdb_privilege themselves;
        # drop Citus 13's static copy (see ../shared/citus/README.md; 14 has none)
        python3 - "$src/src/include/pg_version_compat.h" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s2 = re.sub(r'static inline bool\s+have_createdb_privilege\(void\)\s*\{.*?\n\}\n', '', s, flags=re.S)
open(p, 'w').write(s2)
PY
        ( unset MAKELEVEL MAKEFLAGS MFLAGS && cd "$src" && ./configure -q PG_CONFIG=$PGBIN/pg_config --without-libcurl >/dev/null &&
          make -s -j"$(nproc)" >/dev/null 2>&1 && as_root rm -rf "$dest.tmp" &&
          as_root make -s install DESTDIR="$dest.tmp" >/dev/null ) || { echo "Citus build failed in $src" >&2; return 1; }
        as_root touch "$dest.tmp/.complete"
        as_root rm -rf "$dest"; as_root mv "$dest.tmp" "$dest"
        rm -rf "$(dirname "$src")"
    fi
    echo "== installing Citus from $dest"
    # (usr/ for Debian's server, the cache's path for one built from source;
    # unlink first: a running server keeps its mapped copy)
    ( cd "$dest" && for top in *; do as_root cp -a --remove-destination "$top" /; done )
    citus_installed
}

CITUS_NODES="coordinator worker1 worker2"

# citus_cluster DIR: three nodes in DIR/<node>, ports in DIR/ports
citus_cluster() {
    local dir=$1 node port
    as_root mkdir -p "$dir"; as_root chown postgres:postgres "$dir"; as_root chmod 755 "$dir"
    : > "$dir/ports"
    for node in $CITUS_NODES; do
        port=$(free_port)
        echo "$node $port" >> "$dir/ports"
        local preload=citus
        [ "$node" = coordinator ] && preload="citus,pg_cron"
        init_node "$dir/$node" "$port" "$dir" 127.0.0.1 "$preload" "$CITUS_DB" 100 "${CC_SHARED_BUFFERS:-256MB}"
        as_root runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/$node" -l "$dir/$node.log" -w start >/dev/null
    done
    export PGHOST=$dir PGPORT=$(citus_port "$dir" coordinator) PGUSER=postgres
    citus_create_db "$dir" $CITUS_DB
    # pg_cron lives on the coordinator only: not propagated to the workers
    psql -X -q -d $CITUS_DB -c "SET citus.enable_ddl_propagation = off" -c "CREATE EXTENSION pg_cron" >/dev/null
}

# citus_create_db DIR DB: a database on every node with Citus, the cluster
# formed in it (Citus keeps its node list per database)
citus_create_db() {
    local dir=$1 db=$2 node port cport
    cport=$(citus_port "$dir" coordinator)
    for node in $CITUS_NODES; do
        port=$(citus_port "$dir" $node)
        psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
        psql -X -q -h "$dir" -p "$port" -U postgres -d $db -c "CREATE EXTENSION citus" >/dev/null
    done
    psql -X -q -h "$dir" -p "$cport" -U postgres -d $db -c "SELECT citus_set_coordinator_host('127.0.0.1', $cport)" >/dev/null
    for node in worker1 worker2; do
        psql -X -q -h "$dir" -p "$cport" -U postgres -d $db -c "SELECT citus_add_node('127.0.0.1', $(citus_port "$dir" $node))" >/dev/null
    done
}

citus_port() { awk -v n="$2" '$1 == n {print $2}' "$1/ports"; }

stop_citus_cluster() {
    local dir=$1 node
    for node in $CITUS_NODES; do
        [ -f "$dir/$node/postmaster.pid" ] &&
            as_root runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/$node" -m immediate stop >/dev/null 2>&1 || true
    done
    as_root rm -rf "$dir"
}
