#!/usr/bin/env bash
# Runs every go test -fuzz target in the module briefly (FUZZTIME, default
# 5s each): a smoke run in CI; run longer by hand when a parser changes.
#
# Go's fuzz coordinator sometimes ends a time-boxed run with a bare "context
# deadline exceeded" and no failing input when a worker is busy at the
# deadline; such a run found nothing and is repeated once. A run that
# reports a failing input fails at once.
set -euo pipefail
fuzztime=${FUZZTIME:-5s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    for attempt in 1 2; do
      echo "fuzz $pkg $target ($fuzztime, attempt $attempt)"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
        break
      fi
      if [ "$attempt" = 1 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input" "$log"; then
        continue
      fi
      cat "$log"
      exit 1
    done
    n=$((n + 1))
  done
done
echo "fuzz targets run: $n, all without a finding"
