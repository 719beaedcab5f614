#!/usr/bin/env bash
# make demo: the virtual TEST card behind pcscd, and what `cardbridge check`
# and `cardbridge certs` see. The card's state lives in out/demo/card.json,
# so a PIN changed in one run is still the PIN in the next.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
. scripts/pcscd.sh
mkdir -p out/demo
go build -o out/cardbridge ./host
card_pid=""
cleanup() {
  [ -n "$card_pid" ] && kill "$card_pid" 2>/dev/null && wait "$card_pid" 2>/dev/null
  stop_pcscd
}
trap cleanup EXIT
ensure_pcscd out/demo/pcscd.log
[ -f out/demo/card.json ] || out/cardbridge softcard issue --state out/demo/card.json
out/cardbridge softcard serve --state out/demo/card.json --control 127.0.0.1:0 --control-file out/demo/control >out/demo/card.log 2>&1 &
card_pid=$!
for _ in $(seq 100); do
  out/cardbridge readers 2>/dev/null | grep -q "^Virtual PCD 00 00.*ATR" && break
  sleep 0.1
done
echo "== cardbridge readers"
out/cardbridge readers
echo
echo "== cardbridge check"
out/cardbridge check --reader "Virtual PCD 00 00" || true
echo
echo "== cardbridge certs"
out/cardbridge certs --reader "Virtual PCD 00 00"
echo
echo "TEST 卡 PIN 123456、PUK 12345678（僅供測試）/ TEST card PIN 123456, PUK 12345678 (test only)."
echo "試試 / try: printf '123456\n' | out/cardbridge sign --in README.md --pin-stdin --reader 'Virtual PCD 00 00'"
