#!/usr/bin/env bash
# A short libFuzzer run over the C parsers -- e-mail, phone, CSV, cJSON
# as import_json uses it, and the .xlsx reader (the full run is `make fuzz FUZZ_SECONDS=600`), each
# input within FUZZ_TIMEOUT (2 s; a slower one is a finding): no
# crash, no out-of-bounds read, and the harness's properties hold.  Prints TAP.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${FUZZ_SMOKE_SECONDS:-6}
echo "1..5"
n=0
for t in email phone csv json xlsx; do
    n=$((n + 1))
    out=$(make -s -C "$ROOT" fuzz FUZZ_TARGETS=$t FUZZ_SECONDS=$SECS 2>&1)
    if [ $? -eq 0 ]; then
        echo "ok $n - the $t parser survives ${SECS}s of libFuzzer with ASan/UBSan ($(echo "$out" | grep -o 'Done [0-9]* runs' | tail -1))"
    else
        echo "not ok $n - $t fuzzing failed"
        echo "$out" | tail -20 | sed 's/^/# /'
    fi
done
