#!/usr/bin/env bash
# pg.sh: sourced by lib.sh.  Finds the PostgreSQL server of a major:
#   - an installed server of that major (Debian's postgresql-<major> with its
#     -server-dev, -cron and -pgtap packages) is used as is;
#   - the machine's own packaged major (15 on Debian 12, 17 on Debian 13) is
#     installed from apt when missing;
#   - otherwise it is built once from ../shared/postgres (PG_SOURCES) with
#     pg_cron and pgTAP, into PG_CACHE/<major>-<sha of the tarballs>, and
#     reused as is from then on.
# pg_bindir MAJOR prints the bin directory (after making sure it is there).

PG_SOURCES=${PG_SOURCES:-$ROOT/../shared/postgres}
PG_CACHE=${PG_CACHE:-/var/cache/customercard-pg}
PG_BUILD_DEPS="bison flex libicu-dev libreadline-dev zlib1g-dev libssl-dev liblz4-dev libzstd-dev pkg-config
               make gcc"

# the major Debian packages on this machine (15 on Debian 12, 17 on Debian 13)
packaged_major() {
    apt-cache show postgresql 2>/dev/null | sed -n 's/^Depends: postgresql-\([0-9]*\).*/\1/p' | head -n1
}

# majors this machine can run: the packaged one, those whose server is
# installed, and those whose source is in PG_SOURCES
majors_at_hand() {
    {
        packaged_major || true
        for d in /usr/lib/postgresql/*; do [ -x "$d/bin/postgres" ] && basename "$d"; done 2>/dev/null || true
        ls "$PG_SOURCES" 2>/dev/null | sed -n 's/^postgresql-\([0-9]*\)_.*\.orig\.tar\..*/\1/p' || true
    } | { grep -E '^[0-9]+$' || true; } | sort -n -u | tr '\n' ' ' | sed 's/ $//'
}

pg_tarball() { ls "$PG_SOURCES"/postgresql-"$1"_*.orig.tar.* 2>/dev/null | head -n1; }

# a server of the major installed with its development files and extensions
pg_installed_complete() {
    local bin=/usr/lib/postgresql/$1/bin
    [ -x "$bin/postgres" ] && [ -x "$bin/pg_config" ] &&
        [ -f "$($bin/pg_config --pkglibdir)/pg_cron.so" ] &&
        [ -f "$($bin/pg_config --sharedir)/extension/pgtap.control" ]
}

pg_cache_dir() {
    local tb key
    tb=$(pg_tarball "$1") || return 1
    [ -n "$tb" ] || return 1
    key=$(cat "$tb" "$PG_SOURCES"/pg_cron-*.tar.gz "$PG_SOURCES"/pgtap-*.tar.gz | sha256sum | cut -c1-16)
    echo "$PG_CACHE/$1-$key"
}

apt_install_missing() {
    local missing="" p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "== installing:$missing" >&2
        as_root apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $missing >/dev/null
    fi
}

# build_pg MAJOR DEST: PostgreSQL, contrib, pg_cron and pgTAP into DEST
build_pg() {
    local major=$1 dest=$2 src tb
    tb=$(pg_tarball "$major")
    apt_install_missing $PG_BUILD_DEPS
    echo "== building PostgreSQL $major from $(basename "$tb") (once; cached in $dest)" >&2
    src=$(mktemp -d /tmp/pg-build.XXXXXX)
    tar -xf "$tb" -C "$src"
    tar -xzf "$PG_SOURCES"/pg_cron-*.tar.gz -C "$src"
    tar -xzf "$PG_SOURCES"/pgtap-*.tar.gz -C "$src"
    # installed where it will be used (its binaries find libpq by that path);
    # .complete, written last, says the tree is whole
    as_root rm -rf "$dest"
    # (&& throughout: set -e does not act inside a subshell followed by ||;
    # and as a make of its own: under `make test` MAKELEVEL is 1, and
    # PostgreSQL's build makes its generated headers first only at level 0)
    (
        unset MAKELEVEL MAKEFLAGS MFLAGS &&
        cd "$src"/postgresql-"$major".* &&
        ./configure -q --prefix="$dest" --with-openssl --with-lz4 --with-zstd --with-icu >/dev/null &&
        { make -s -j"$(nproc)" >"$src/make.log" 2>&1 || { tail -20 "$src/make.log" >&2; false; }; } &&
        make -s install >/dev/null &&
        make -s -C contrib -j"$(nproc)" install >/dev/null &&
        cd "$src"/pg_cron-* &&
        make -s PG_CONFIG="$dest/bin/pg_config" install >/dev/null 2>&1 &&
        cd "$src"/pgtap-* &&
        make -s PG_CONFIG="$dest/bin/pg_config" >/dev/null 2>&1 &&
        make -s PG_CONFIG="$dest/bin/pg_config" install >/dev/null 2>&1
    ) || { echo "PostgreSQL $major build failed in $src" >&2; return 1; }
    as_root touch "$dest/.complete"
    rm -rf "$src"
}

# pg_bindir MAJOR: the bin directory of a complete server of that major
pg_bindir() {
    local major=$1 dest
    if pg_installed_complete "$major"; then echo "/usr/lib/postgresql/$major/bin"; return 0; fi
    if [ "$major" = "$(packaged_major)" ]; then
        apt_install_missing postgresql-"$major" postgresql-server-dev-"$major" postgresql-"$major"-cron postgresql-"$major"-pgtap
        pg_installed_complete "$major" && { echo "/usr/lib/postgresql/$major/bin"; return 0; }
    fi
    dest=$(pg_cache_dir "$major") || { echo "PostgreSQL $major: not installed and no source in $PG_SOURCES" >&2; return 1; }
    [ -f "$dest/.complete" ] || build_pg "$major" "$dest" || return 1
    echo "$dest/bin"
}
