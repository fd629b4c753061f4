#!/usr/bin/env bash
# Differential test of the phone core against libphonenumber (Debian's
# libphonenumber-dev, built into a test-only helper): generated numbers of
# every region, mutated and noisy (a fuzzer's corpus), and as people type
# them into a CRM.  Fails on any number that differs from libphonenumber's
# (another E.164, a number where it has none, another region or format).
# Prints TAP.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${PHONE_DIFF_INPUTS:-100000}
SEED=${PHONE_DIFF_SEED:-$(date +%Y%m%d)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "1..4"
# the fuzzer's corpus (every format mutated, some garbage), then the numbers
# as people type them into a CRM (every region and type, well formed)
t=0
for kind in corpus typed; do
    out=$("$ROOT/test/phone_ref/compare.sh" "$SEED" "$N" "$work" "$kind" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        echo "ok $((t += 1)) - $kind: $N inputs (seed $SEED): $out"
    else
        echo "not ok $((t += 1)) - $kind: differs from libphonenumber (seed $SEED): $(echo "$out" | tail -1)"
        cat "$work"/wrong.txt "$work"/format.txt 2>/dev/null | head -20 | sed 's/^/# /'
    fi
    # misses (libphonenumber has a valid number, we NULL) come only from
    # inputs we refuse on purpose (characters whose Unicode category we do
    # not carry, RFC 3966 phone-context): at most 1 in 1000 valid numbers of
    # the fuzzer's corpus, none of what people type
    valid=$(echo "$out" | sed -n 's/.*valid per libphonenumber \([0-9]*\);.*/\1/p')
    missed=$(echo "$out" | sed -n 's/.*missed \([0-9]*\),.*/\1/p')
    [ "$kind" = typed ] && allowed=0 || allowed=$(( ${valid:-0} / 1000 ))
    if [ -n "$missed" ] && [ "$missed" -le "$allowed" ]; then
        echo "ok $((t += 1)) - $kind: $missed of $valid valid numbers missed (at most $allowed)"
    else
        echo "not ok $((t += 1)) - $kind: ${missed:-?} of ${valid:-?} valid numbers missed (at most $allowed)"
        head -10 "$work/miss.txt" 2>/dev/null | sed 's/^/# /'
    fi
    rm -f "$work"/wrong.txt "$work"/format.txt "$work"/miss.txt
done
