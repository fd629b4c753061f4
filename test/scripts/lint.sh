#!/usr/bin/env bash
# lint.sh (`make lint`): cppcheck and clang-tidy over src/*.c with the
# configuration checked in (.clang-tidy; cppcheck's checks below).  A finding
# that is wrong is silenced where it is, with the reason (cppcheck-suppress
# ID ; why, NOLINTNEXTLINE(check): why).  Prints each tool's findings; exits
# non-zero when there is one.  LINT=cppcheck or LINT=clang-tidy runs one.
source "$(dirname "$0")/lib.sh"
apt_install_missing cppcheck clang-tidy $PACKAGES
cd "$ROOT"
PGINC=$($PGBIN/pg_config --includedir-server)
INCLUDES="-I src -I $PGINC -I $($PGBIN/pg_config --includedir)"
rc=0
if [ "${LINT:-cppcheck}" = cppcheck ] || [ -z "${LINT:-}" ]; then
    echo "== cppcheck ($(cppcheck --version))"
    # warning, performance and portability; system headers are PostgreSQL's
    out=$(cppcheck --quiet --enable=warning,performance,portability --inline-suppr --std=c99 \
          --suppress=missingIncludeSystem -D__GNUC__ -D__x86_64__ $INCLUDES src/*.c 2>&1) || true
    findings=$(echo "$out" | grep -cE '^src/.*: (error|warning|performance|portability|style):' || true)
    [ -n "$out" ] && echo "$out"
    echo "cppcheck: $findings findings"
    [ "$findings" = 0 ] || rc=1
fi
if [ "${LINT:-clang-tidy}" = clang-tidy ] || [ -z "${LINT:-}" ]; then
    echo "== clang-tidy ($(clang-tidy --version | sed -n 's/.*LLVM version //p'))"
    out=$(clang-tidy --quiet src/*.c -- $INCLUDES -std=gnu99 2>/dev/null) || true
    findings=$(echo "$out" | grep -cE '^/.*/src/.*: (warning|error):' || true)
    [ -n "$out" ] && echo "$out"
    echo "clang-tidy: $findings findings"
    [ "$findings" = 0 ] || rc=1
fi
exit $rc
