#!/usr/bin/env bash
# Differential test of the phone core against libphonenumber (Debian's
# libphonenumber-dev, built into a test-only helper): a generated corpus of
# numbers of every region in the formats people type, plus noise.  Fails on
# any number that differs from libphonenumber's (another E.164, a number where
# it has none, another region or format).  Prints TAP.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${PHONE_DIFF_INPUTS:-100000}
SEED=${PHONE_DIFF_SEED:-$(date +%Y%m%d)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "1..2"
out=$("$ROOT/test/phone_ref/compare.sh" "$SEED" "$N" "$work" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then
    echo "ok 1 - $N inputs (seed $SEED): $out"
else
    echo "not ok 1 - differs from libphonenumber (seed $SEED): $(echo "$out" | tail -1)"
    cat "$work"/wrong.txt "$work"/format.txt 2>/dev/null | head -20 | sed 's/^/# /'
fi
# misses (libphonenumber has a valid number, we NULL) come only from inputs we
# refuse on purpose (characters whose Unicode category we do not carry, RFC
# 3966 phone-context): at most 1 in 1000 valid numbers
valid=$(echo "$out" | sed -n 's/.*valid per libphonenumber \([0-9]*\);.*/\1/p')
missed=$(echo "$out" | sed -n 's/.*missed \([0-9]*\),.*/\1/p')
if [ -n "$missed" ] && [ $((missed * 1000)) -le "${valid:-0}" ]; then
    echo "ok 2 - $missed of $valid valid numbers missed (refused on purpose)"
else
    echo "not ok 2 - ${missed:-?} of ${valid:-?} valid numbers missed"
    head -10 "$work/miss.txt" 2>/dev/null | sed 's/^/# /'
fi
