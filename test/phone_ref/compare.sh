#!/bin/bash
# Differential test of the phone core against libphonenumber.
#   compare.sh SEED N [WORKDIR] [corpus|typed]
# (phone_ref.cc: corpus, every format mutated and some garbage; typed, the
# numbers as people type them)
# Prints a summary; exits 1 when any number differs from libphonenumber's
# (a different E.164, or a number where libphonenumber has none) or a
# valid number's region, formats or tie to a place (IsNumberGeographical,
# which phone_timezones follows) differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seed=${1:-1}; n=${2:-100000}; work=${3:-$(mktemp -d)}; kind=${4:-corpus}
mkdir -p "$work"
g++ -O2 -o "$work/phone_ref" "$here/phone_ref.cc" -lphonenumber -lprotobuf
gcc -O2 -Wall -I"$root/src" -o "$work/phone_ours" "$here/phone_ours.c" \
    "$root/src/phone_parse.c" "$root/src/phone_regex.c" "$root/src/phone_tables.c"
"$work/phone_ref" "$kind" "$seed" "$n" > "$work/corpus.tsv"
"$work/phone_ref" check < "$work/corpus.tsv" > "$work/ref.out"
"$work/phone_ours" < "$work/corpus.tsv" > "$work/ours.out"
paste -d "$(printf '\001')" "$work/corpus.tsv" "$work/ref.out" "$work/ours.out" | awk -F'\001' -v work="$work" '
{
    split($1, inp, "\t"); region = inp[1]; text = inp[2]
    nr = split($2, ref, "\t"); ours = $3; split(ours, our, "\t")
    total++
    if (ref[1] ~ /^(-|possible|impossible)/) {
        if (our[1] != "-") { wrong++; print "WRONG\t" region "\t" text "\t" $2 "\t" ours > (work "/wrong.txt") }
        else same++
        next
    }
    valid++
    if (nr > 6) canon++
    refall = ref[1] "\t" ref[2] "\t" ref[3] "\t" ref[4] "\t" ref[5] "\t" ref[6]
    if (our[1] == "-") { miss++; print "MISS\t" region "\t" text "\t" $2 > (work "/miss.txt") }
    else if (our[1] != ref[1]) { wrong++; print "WRONG\t" region "\t" text "\t" $2 "\t" ours > (work "/wrong.txt") }
    else if (ours != refall) { fmt++; print "FORMAT\t" region "\t" text "\n  ref:  " refall "\n  ours: " ours > (work "/format.txt") }
    else same++
}
END {
    printf "inputs %d, valid per libphonenumber %d; agree %d, missed %d, wrong %d, format differs %d (%d canonicalized: libphonenumber E.164 that re-parses to another number)\n", total, valid, same, miss, wrong, fmt, canon
    exit (wrong + fmt > 0) ? 1 : 0
}'
