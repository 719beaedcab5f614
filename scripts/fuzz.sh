#!/usr/bin/env bash
# Runs every go test -fuzz target in the module briefly (FUZZTIME, default
# 5s each): a smoke run in CI; run longer by hand when a parser changes.
set -euo pipefail
fuzztime=${FUZZTIME:-5s}
n=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
    n=$((n + 1))
  done
done
rm -f /tmp/fuzz.$$.log
echo "fuzz: $n targets passed, 0 failed"
