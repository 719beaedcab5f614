#!/usr/bin/env bash
# bench.sh: CardBridge vs OpenSC on the SAME virtual PIV card, in one run.
#
# Builds the CLI (out/cardbridge), the virtual TEST card
# (out/cardbridge-softcard) and the bench driver (bench/), makes sure
# pcscd runs (uses a running one and leaves it; otherwise starts one and
# stops it at exit), issues a TEST card and serves it on vpcd slot 1
# (127.0.0.1:35964, reader "Virtual PCD 00 01"; slot 0 belongs to the
# integration tests), then prints the table and writes it to out/bench.txt.
# A second section measures the native-messaging host (`cardbridge
# chrome-extension://ID/`): start-up and peak RSS against two minimal Go
# hosts (bench/minimalhost; bench/minimalhost-pcsc, linked to libpcsclite),
# warm round trips, sign against the library.
# A third program (bench/exchange) then appends the 公文 exchange rows to
# out/bench.txt: documents received per second by agent.Sync with the same
# card against software keys; the centre under 50 agents at once, SQLite
# against PostgreSQL (a throwaway cluster, stopped at exit; not measured
# without Debian's postgresql); 2,000 idle agents on the push channel of one
# cardbridge-centre process (latency of a document to all, memory).
#
#   BENCH_N   runs per measurement (default 20)
#
# Needs Go and, as Debian packages, pcscd libpcsclite-dev pkg-config
# vsmartcard-vpcd opensc openssl; missing ones are installed with apt-get.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${BENCH_N:-20}"
READER="Virtual PCD 00 01"
VPCD="127.0.0.1:35964"

die() { echo "bench.sh: $*" >&2; exit 1; }
say() { echo "bench.sh: $*" >&2; }

[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "BENCH_N must be a positive integer, not '$N'"
command -v go >/dev/null || die "Go is not installed (go.mod wants Go $(sed -n 's/^go //p' go.mod))"

# --- packages: install only what is missing --------------------------------
bash scripts/deps.sh
. scripts/pcscd.sh

# --- scratch directory and cleanup -----------------------------------------
DIR="$(mktemp -d "${TMPDIR:-/tmp}/cardbridge-bench.XXXXXX")"
CARD_PID=""
PCSCD_PID=""
BENCH_PID=""
cleanup() {
  local rc=$?
  if [ -n "$BENCH_PID" ]; then kill "$BENCH_PID" 2>/dev/null || true; wait "$BENCH_PID" 2>/dev/null || true; fi
  if [ -n "$CARD_PID" ]; then kill "$CARD_PID" 2>/dev/null || true; wait "$CARD_PID" 2>/dev/null || true; fi
  if [ -n "$PCSCD_PID" ]; then kill "$PCSCD_PID" 2>/dev/null || true; wait "$PCSCD_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------
say "building out/cardbridge, out/cardbridge-softcard, the bench driver and the minimal native host"
mkdir -p out
go build -o out/cardbridge ./host
go build -o out/cardbridge-softcard ./cmd/cardbridge-softcard
go build -o "$DIR/bench" ./bench
go build -o "$DIR/minimalhost" ./bench/minimalhost
go build -o "$DIR/minimalhost-pcsc" ./bench/minimalhost-pcsc
go build -o "$DIR/bench-exchange" ./bench/exchange
CGO_ENABLED=0 go build -o "$DIR/cardbridge-centre" ./cmd/cardbridge-centre

# --- pcscd: only one per machine --------------------------------------------
PCSCD_VERSION="$(/usr/sbin/pcscd --version 2>/dev/null | head -n1 | sed 's/\.$//')"
ensure_pcscd "$DIR/pcscd.log" || die "pcscd did not start"
if [ -n "${PCSCD_PID:-}" ]; then
  PCSCD_NOTE="${PCSCD_VERSION}, started by the bench (pid $PCSCD_PID), stopped at exit"
else
  PCSCD_NOTE="${PCSCD_VERSION}, already running (pid $(pgrep -x pcscd | head -n1)), left running"
fi
say "pcscd: $PCSCD_NOTE"

# --- the virtual TEST card, served removed: the driver checks the slot is free first
out/cardbridge-softcard issue --state "$DIR/card.json" 2>/dev/null
out/cardbridge-softcard serve --state "$DIR/card.json" --vpcd "$VPCD" \
  --control 127.0.0.1:0 --control-file "$DIR/ctl" --removed >"$DIR/softcard.log" 2>&1 &
CARD_PID=$!
for _ in $(seq 100); do
  [ -s "$DIR/ctl" ] && break
  kill -0 "$CARD_PID" 2>/dev/null || { cat "$DIR/softcard.log" >&2; die "cardbridge-softcard exited"; }
  sleep 0.1
done
[ -s "$DIR/ctl" ] || die "softcard control endpoint not up within 10 s"

REV="unknown commit"
if git rev-parse --git-dir >/dev/null 2>&1; then
  REV="commit $(git rev-parse --short=12 HEAD)"
  [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || REV="$REV + uncommitted changes"
fi

say "running, N=$N (about $((N * 5 + 5)) s)"
# In the background so that a signal to this script is handled at once.
"$DIR/bench" -n "$N" -cardbridge out/cardbridge -control "$(cat "$DIR/ctl")" \
  -minimalhost "$DIR/minimalhost" -minimalpcsc "$DIR/minimalhost-pcsc" -reader "$READER" -dir "$DIR" -out out/bench.txt -rev "$REV" -pcscd "pcscd: $PCSCD_NOTE" &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
say "table written to out/bench.txt"

# --- the 公文 exchange: appended to out/bench.txt ------------------------------
say "exchange rows (about 1 min): receiving with the card, the centre under load, 2,000 idle agents"
mkdir -p "$DIR/exchange"
"$DIR/bench-exchange" -dir "$DIR/exchange" -control "$(cat "$DIR/ctl")" -reader "$READER" -state "$DIR/card.json" \
  -centre "$DIR/cardbridge-centre" -out out/bench.txt &
BENCH_PID=$!
wait "$BENCH_PID"
BENCH_PID=""
say "exchange table appended to out/bench.txt"
