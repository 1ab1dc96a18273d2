#!/usr/bin/env bash
# Issue 17, acceptance 3: `diff` and `analyze` with `--format json` must give
# byte-identical output across a refactor, apart from fixed bugs. This makes
# real snapshots of the Go, Node, JVM and Python sample apps (soak, run by the
# NEW build), then runs both builds on the same files and compares the bytes.
# The one line allowed to differ is `"schema_version"`, which builds after the
# JSON contract got its schemas print and older ones do not.
#
#   scripts/identity.sh OLD_LEAKHOUND NEW_LEAKHOUND
#
# Needs root (soak's memory cgroup), go, node, javac/java and python3.
# Prints one line per comparison and exits 1 if any differs.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OLD_LEAKHOUND NEW_LEAKHOUND" >&2; exit 2; }
old=$(realpath "$1") new=$(realpath "$2")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Soak exits 1 when it finds a leak, which is what these apps do.
soak() {
  local dir=$1; shift
  LISTEN=127.0.0.1:0 "$new" soak --duration 8s --memory-limit 512Mi -o "$work/$dir" "$@" \
    >"$work/$dir.out" 2>&1 || [ $? -eq 1 ] || { cat "$work/$dir.out" >&2; exit 3; }
}

(cd "$root/testkit/apps/go" && GOFLAGS=-mod=mod go build -o "$work/go-leak" ./leak)
soak go --http-load '/work?n=5' -- "$work/go-leak"
soak node --http-load '/work?n=10' -- node "$root/crates/leakhound/demo/server.js"
mkdir "$work/classes" "$work/steps"
javac -d "$work/classes" "$root"/testkit/apps/java/*.java
soak java --load "while :; do touch $work/steps/next; sleep 0.3; done" \
  -- java -Xmx256m -cp "$work/classes" LeakApp static "$work/steps"
soak python --http-load '/work?n=50' -- python3 "$root/testkit/apps/python-plain/server.py" leak

status=0
same() {
  local name=$1; shift
  "$old" "$@" --format json 2>/dev/null | grep -v '"schema_version"' >"$work/old.json" || true
  "$new" "$@" --format json 2>/dev/null | grep -v '"schema_version"' >"$work/new.json" || true
  if [ ! -s "$work/new.json" ]; then
    echo "EMPTY     $name"; status=1
  elif cmp -s "$work/old.json" "$work/new.json"; then
    echo "identical $name ($(wc -c <"$work/new.json") bytes)"
  else
    echo "DIFFERENT $name"; diff "$work/old.json" "$work/new.json" | head -20 || true; status=1
  fi
}
for dir in go node java python; do
  mapfile -t snaps < <(find "$work/$dir" -maxdepth 1 -type f -name '0*' | sort)
  [ ${#snaps[@]} -ge 2 ] || { echo "soak of $dir left ${#snaps[@]} snapshots" >&2; exit 3; }
  same "$dir diff" diff "${snaps[@]}"
  same "$dir analyze" analyze "${snaps[-1]}"
done
exit $status
