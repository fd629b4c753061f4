#!/bin/bash
# Differential test of the phone core against libphonenumber.
#   compare.sh SEED N [WORKDIR]
# Prints a summary; exits 1 when any number differs from libphonenumber's
# (a different E.164, or a number where libphonenumber has none) or a
# valid number's region or formats differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seed=${1:-1}; n=${2:-100000}; work=${3:-$(mktemp -d)}
mkdir -p "$work"
g++ -O2 -o "$work/phone_ref" "$here/phone_ref.cc" -lphonenumber -lprotobuf
gcc -O2 -Wall -I"$root/src" -o "$work/phone_ours" "$here/phone_ours.c" \
    "$root/src/phone_parse.c" "$root/src/phone_regex.c" "$root/src/phone_tables.c"
"$work/phone_ref" corpus "$seed" "$n" > "$work/corpus.tsv"
"$work/phone_ref" check < "$work/corpus.tsv" > "$work/ref.out"
"$work/phone_ours" < "$work/corpus.tsv" > "$work/ours.out"
paste "$work/corpus.tsv" "$work/ref.out" "$work/ours.out" | awk -F'\t' -v work="$work" '
{
    region = $1; text = $2; ref = $3
    if (ref ~ /^(-|possible|impossible)/) { refvalid = 0; ours = $4 } else { refvalid = 1; refall = $3 "\t" $4 "\t" $5 "\t" $6 "\t" $7; ours = $8 }
    if (refvalid) { ourall = $8 "\t" $9 "\t" $10 "\t" $11 "\t" $12 }
    total++
    if (refvalid) {
        valid++
        if (ours == "-") { miss++; print "MISS\t" region "\t" text "\t" ref > (work "/miss.txt") }
        else if (ours != $3) { wrong++; print "WRONG\t" region "\t" text "\t" ref "\t" ours > (work "/wrong.txt") }
        else if (ourall != refall) { fmt++; print "FORMAT\t" region "\t" text "\n  ref:  " refall "\n  ours: " ourall > (work "/format.txt") }
        else same++
    } else {
        if ($4 != "-") { wrong++; print "WRONG\t" region "\t" text "\t" ref "\t" $4 > (work "/wrong.txt") }
        else same++
    }
}
END {
    printf "inputs %d, valid per libphonenumber %d; agree %d, missed %d, wrong %d, format differs %d\n", total, valid, same, miss, wrong, fmt
    exit (wrong + fmt > 0) ? 1 : 0
}'
