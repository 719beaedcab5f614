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
echo
echo "== the browser's protocol, one JSON request per line (cardbridge native --plain)"
cert_id="$(out/cardbridge certs --json --reader "Virtual PCD 00 00" | grep -o '"id": *"[0-9a-f]\{64\}"' | head -n1 | grep -o '[0-9a-f]\{64\}')"
digest="$(printf '公文' | openssl dgst -sha256 -binary | base64)"
requests="{\"id\":1,\"command\":\"version\"}
{\"id\":2,\"command\":\"pinStatus\",\"origin\":\"https://edoc.example.gov.tw\",\"args\":{\"reader\":\"Virtual PCD 00 00\"}}
{\"id\":3,\"command\":\"sign\",\"origin\":\"https://edoc.example.gov.tw\",\"args\":{\"certificateId\":\"$cert_id\",\"pin\":\"123456\",\"hashAlgorithm\":\"SHA-256\",\"digest\":\"$digest\"}}
{\"id\":4,\"command\":\"sign\",\"origin\":\"http://edoc.example.gov.tw\",\"args\":{}}"
printf '%s\n' "$requests" | sed 's/"pin":"[^"]*"/"pin":"******"/' | sed 's/^/→ /'
printf '%s\n' "$requests" | out/cardbridge native --plain 2>/dev/null | cut -c1-200 | sed 's/^/← /'
echo
echo "TEST 卡 PIN 123456、PUK 12345678（僅供測試）/ TEST card PIN 123456, PUK 12345678 (test only)."
echo "試試 / try: printf '123456\n' | out/cardbridge sign --in README.md --pin-stdin --reader 'Virtual PCD 00 00'"
