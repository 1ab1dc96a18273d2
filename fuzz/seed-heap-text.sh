#!/usr/bin/env bash
# Seeds the heap_text fuzz target's corpus with heap profiles written by the
# native sample app (testkit/apps/native/leaky.c) under Debian's jemalloc and
# gperftools' tcmalloc: generated here, never copied from another project.
# Needs cc, libjemalloc-dev and libgoogle-perftools-dev.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/heap_text
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=../testkit/apps/native/leaky.c
for variant in leaky bounded; do
    flag=$([ "$variant" = bounded ] && echo -DBOUNDED || true)
    cc -g -O1 $flag -o "$work/$variant-je" "$src" -ljemalloc
    cc -g -O1 $flag -o "$work/$variant-tc" "$src" -ltcmalloc
    MALLOC_CONF="prof:true,prof_accum:true,prof_prefix:$work/je-$variant,lg_prof_interval:22" \
        "$work/$variant-je" 12 >/dev/null
    HEAPPROFILE="$work/tc-$variant" HEAP_PROFILE_ALLOCATION_INTERVAL=4194304 \
        "$work/$variant-tc" 12 >/dev/null 2>&1
done
# A few of each: the first, a middle and the last dump of every run.
for run in "$work"/je-leaky "$work"/je-bounded "$work"/tc-leaky "$work"/tc-bounded; do
    mapfile -t files < <(ls "$run".* | sort -V)
    n=${#files[@]}
    for i in 0 $((n / 2)) $((n - 1)); do
        cp "${files[$i]}" "$out/$(basename "$run")-$i.heap"
    done
done
ls "$out" | wc -l
