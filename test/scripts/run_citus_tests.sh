#!/usr/bin/env bash
# run_citus_tests.sh (`make test-citus`): the Citus suite (test/citus/*.sh,
# TAP) against a coordinator and two workers on 127.0.0.1.  Citus is built
# once from its tarball when it is not installed (test/scripts/citus.sh).
# One file only: TESTS='citus/coordinator' make test-citus
source "$(dirname "$0")/citus.sh"
ensure_deps
build_install
ensure_citus
DIR=$(mktemp -d /tmp/customercard-citus.XXXXXX)
trap 'stop_citus_cluster "$DIR"' EXIT
citus_cluster "$DIR"
export CITUS_DIR=$DIR
export CITUS_WORKER_PORTS="$(citus_port "$DIR" worker1) $(citus_port "$DIR" worker2)"
cd "$ROOT"
files=""
for f in test/citus/*.sh; do
    t=$(basename "$f" .sh)
    { [ -z "${TESTS:-}" ] || [[ " $TESTS " == *" citus/$t "* ]]; } && files="$files $f"
done
[ -n "$files" ] || exit 0
echo "== Citus suite (coordinator :$PGPORT, workers :${CITUS_WORKER_PORTS// /, :})"
prove ${CC_PROVE_FLAGS:-} -e bash $files
