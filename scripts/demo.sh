#!/usr/bin/env bash
# make demo: the virtual TEST card, what the CLI and the native protocol see,
# then the demo site (demo/) in the browser with the CardBridge extension.
#
#   1. builds out/cardbridge, out/cardbridge-softcard (the virtual TEST
#      card, a development tool that is not shipped) and out/cardbridge-demo;
#      installs missing Debian packages (scripts/deps.sh; chromium only when
#      a browser will run);
#   2. creates the TEST CA (out/demo/ca.pem) and card (out/demo/card.json;
#      its PIN state is kept between runs);
#   3. serves the card behind pcscd (vpcd), or without pcscd on
#      127.0.0.1:35999 (config virtualReader) when that is not possible;
#   4. `cardbridge readers`, `check`, `certs` and a `native --plain` session;
#   5. `cardbridge install --user --dev` (the host for this user's browsers,
#      allowing the development extension);
#   6. the demo site on 127.0.0.1 (ephemeral port); then with $DISPLAY,
#      Chromium with the extension (until you close it), without a display
#      `node extension/e2e/demo-walk.mjs` (headless walk, screenshots in
#      out/screenshots; `make screenshots` refreshes docs/screenshots) when it
#      exists.
#
# The host's configuration is out/demo/config.json (CARDBRIDGE_CONFIG, also
# for the browser the script starts); the user's own is not touched.
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
demo="$root/out/demo"
# CARDBRIDGE_DEMO_WALK names another walk script; CARDBRIDGE_DEMO_DIRECT=1
# serves the card without pcscd even where pcscd runs.
walk="${CARDBRIDGE_DEMO_WALK:-extension/e2e/demo-walk.mjs}"

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# ensure_pkgs installs the Debian packages given that are missing, as
# scripts/deps.sh does for the build and test packages.
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bash scripts/deps.sh
. scripts/pcscd.sh
# A browser runs when there is a display, or for the headless walk.
if [ -n "${DISPLAY:-}" ] || [ -f "$walk" ]; then
  ensure_pkgs chromium
fi
if [ -z "${DISPLAY:-}" ] && [ -f "$walk" ] && ! command -v node >/dev/null; then
  ensure_pkgs nodejs
fi

mkdir -p "$demo"
go build -o out/cardbridge ./host
go build -o out/cardbridge-softcard ./cmd/cardbridge-softcard
go build -o out/cardbridge-demo ./demo

card_pid="" site_pid="" browser_pid=""
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$browser_pid"
  stop "$site_pid"
  stop "$card_pid"
  stop_pcscd
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The TEST CA and card. A card issued by another CA (an older run) is
# issued again, so that it chains to ca.pem, the demo site's trust.
out/cardbridge-softcard ca --out "$demo/ca.pem"
ca_sum="$(sha256sum "$demo/ca.pem" | cut -d' ' -f1)"
if [ ! -f "$demo/card.json" ] || [ "$(cat "$demo/card.ca" 2>/dev/null)" != "$ca_sum" ]; then
  out/cardbridge-softcard issue --state "$demo/card.json" --ca "$demo/ca.pem"
  printf '%s\n' "$ca_sum" >"$demo/card.ca"
fi

# The host's configuration for this demo; a browser-started host inherits
# this environment from the browser.
export CARDBRIDGE_CONFIG="$demo/config.json"
write_config() { # [virtualReader]
  if [ -n "${1:-}" ]; then
    printf '{\n  "logLevel": "debug",\n  "logFile": "%s",\n  "virtualReader": "%s"\n}\n' "$demo/host.log" "$1" >"$CARDBRIDGE_CONFIG"
  else
    printf '{\n  "logLevel": "debug",\n  "logFile": "%s"\n}\n' "$demo/host.log" >"$CARDBRIDGE_CONFIG"
  fi
}

# native REQUEST...: one native --plain session (it answers every request
# before it exits).
native() {
  printf '%s\n' "$@" | out/cardbridge native --plain 2>/dev/null
}

# wait_reader NAME: until a card shows in reader NAME (10 s): PC/SC readers
# through `cardbridge readers`, the direct virtual reader through the host.
wait_reader() {
  local list
  for _ in $(seq 50); do
    if [ "$1" = "CardBridge Virtual Reader" ]; then
      list="$(native '{"id":1,"command":"readers"}' || true)"
      grep -q "\"name\":\"$1\",\"card\":true" <<<"$list" && return 0
    else
      list="$(out/cardbridge readers 2>/dev/null || true)"
      grep -q "^$1.*ATR" <<<"$list" && return 0
    fi
    kill -0 "$card_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# The card behind pcscd (vpcd) when possible, else served directly.
reader=""
write_config
if [ -z "${CARDBRIDGE_DEMO_DIRECT:-}" ] && [ -x /usr/sbin/pcscd ] && ensure_pcscd "$demo/pcscd.log"; then
  rm -f "$demo/control"
  out/cardbridge-softcard serve --state "$demo/card.json" --control 127.0.0.1:0 --control-file "$demo/control" \
    </dev/null >"$demo/card.log" 2>&1 &
  card_pid=$!
  connected=""
  for _ in $(seq 100); do
    st=""
    [ -s "$demo/control" ] && st="$(curl -fsS "http://$(cat "$demo/control")/status" 2>/dev/null || true)"
    case "$st" in *'"connected":true'*)
      connected=1
      break
      ;;
    esac
    kill -0 "$card_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -n "$connected" ] && wait_reader "Virtual PCD 00 00"; then
    reader="Virtual PCD 00 00"
  else
    say "虛擬讀卡機 (vpcd) 無法使用，改為直接提供測試卡 / vpcd not usable; serving the card directly (see $demo/card.log)"
    stop "$card_pid"
    card_pid=""
  fi
fi
if [ -z "$reader" ]; then
  write_config 127.0.0.1:35999
  out/cardbridge-softcard serve --state "$demo/card.json" --listen 127.0.0.1:35999 \
    </dev/null >"$demo/card.log" 2>&1 &
  card_pid=$!
  if ! wait_reader "CardBridge Virtual Reader"; then
    say "測試卡無法啟動 / the TEST card did not start:" >&2
    cat "$demo/card.log" >&2
    exit 1
  fi
  reader="CardBridge Virtual Reader"
fi

if [ "$reader" = "Virtual PCD 00 00" ]; then
  step "cardbridge readers"
  out/cardbridge readers
  step "cardbridge check"
  out/cardbridge check --reader "$reader" || true
  step "cardbridge certs"
  out/cardbridge certs --reader "$reader"
  cert_id="$(out/cardbridge certs --json --reader "$reader" | grep -o '"id": *"[0-9a-f]\{64\}"' | head -n1 | grep -o '[0-9a-f]\{64\}')"
else
  say
  say "（沒有 pcscd：cardbridge readers/check/certs 只看智慧卡服務的讀卡機，測試卡改由下方的 native 工作階段呈現）"
  say "(no pcscd: the CLI card commands see smart-card-service readers only; the native session below shows the TEST card)"
  cert_id="$(native '{"id":1,"command":"certificates","origin":"https://edoc.example.gov.tw"}' | grep -o '"id":"[0-9a-f]\{64\}"' | head -n1 | grep -o '[0-9a-f]\{64\}')"
fi

step "the browser's protocol, one JSON request per line (cardbridge native --plain)"
digest="$(printf '公文' | openssl dgst -sha256 -binary | base64)"
data="$(printf '公文' | base64)"
requests=("{\"id\":1,\"command\":\"version\"}"
  "{\"id\":2,\"command\":\"readers\"}"
  "{\"id\":3,\"command\":\"pinStatus\",\"origin\":\"https://edoc.example.gov.tw\",\"args\":{\"reader\":\"$reader\"}}"
  "{\"id\":4,\"command\":\"sign\",\"origin\":\"https://edoc.example.gov.tw\",\"args\":{\"certificateId\":\"$cert_id\",\"pin\":\"123456\",\"hashAlgorithm\":\"SHA-256\",\"format\":\"cms\",\"data\":\"$data\"}}"
  "{\"id\":6,\"command\":\"sign\",\"origin\":\"https://edoc.example.gov.tw\",\"args\":{\"certificateId\":\"$cert_id\",\"pin\":\"123456\",\"hashAlgorithm\":\"SHA-256\",\"digest\":\"$digest\"}}"
  "{\"id\":5,\"command\":\"sign\",\"origin\":\"http://edoc.example.gov.tw\",\"args\":{}}")
printf '%s\n' "${requests[@]}" | sed 's/"pin":"[^"]*"/"pin":"******"/' | sed 's/^/→ /'
native "${requests[@]}" | cut -c1-160 | sed 's/^/← /'

step "cardbridge install --user（為目前使用者 $(id -un) 安裝瀏覽器主程式 / register the host with this user's browsers）"
out/cardbridge install --user --dev
manifest="${XDG_CONFIG_HOME:-$HOME/.config}/chromium/NativeMessagingHosts/tw.cardbridge.host.json"
# Chromium with --user-data-dir looks for native hosts inside the profile.
mkdir -p "$demo/profile/NativeMessagingHosts"
cp "$manifest" "$demo/profile/NativeMessagingHosts/"
say "Chromium 示範設定檔 / demo profile: $demo/profile/NativeMessagingHosts/tw.cardbridge.host.json"
say "移除 / remove: out/cardbridge uninstall --user"

step "示範網站 / demo site"
[ -f extension/page/cardbridge.js ] ||
  say "注意：extension/page/cardbridge.js 尚不存在，頁面會顯示 DEMO_PAGE_LIBRARY_MISSING / note: the page library is not there yet"
rm -f "$demo/site.addr"
out/cardbridge-demo --addr 127.0.0.1:0 --addr-file "$demo/site.addr" --ca "$demo/ca.pem" \
  --page-lib "$root/extension/page/cardbridge.js" </dev/null >"$demo/site.log" 2>&1 &
site_pid=$!
for _ in $(seq 100); do
  [ -s "$demo/site.addr" ] && break
  kill -0 "$site_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$demo/site.addr" ]; then
  say "示範網站無法啟動 / the demo site did not start:" >&2
  cat "$demo/site.log" >&2
  exit 1
fi
url="http://$(cat "$demo/site.addr")" # the site's origin, no trailing slash
code="$(curl -sS -o /dev/null -w '%{http_code}' "$url/")"
if [ "$code" != 200 ]; then
  say "GET $url/ = $code, want 200" >&2
  exit 1
fi
say "$url/ （GET / → $code；記錄 log: $demo/site.log）"
say "TEST 卡 PIN 123456、PUK 12345678（僅供測試）/ TEST card PIN 123456, PUK 12345678 (test only)"

chromium_bin=""
for c in /usr/lib/chromium/chromium "$(command -v chromium 2>/dev/null || true)"; do
  if [ -n "$c" ] && [ -x "$c" ]; then
    chromium_bin="$c"
    break
  fi
done

if [ -n "${DISPLAY:-}" ]; then
  step "Chromium（關閉瀏覽器即結束示範 / close the browser to end the demo）"
  if [ -z "$chromium_bin" ]; then
    say "找不到 chromium / chromium not found" >&2
    exit 1
  fi
  args=(--user-data-dir="$demo/profile" --no-first-run --no-default-browser-check
    --disable-features=DisableLoadExtensionCommandLineSwitch)
  if [ -f extension/manifest.json ]; then
    args+=(--load-extension="$root/extension" --disable-extensions-except="$root/extension")
  else
    say "注意：extension/manifest.json 尚不存在，瀏覽器不載入擴充功能 / note: no extension to load yet"
  fi
  [ "$(id -u)" -ne 0 ] || args+=(--no-sandbox) # Chromium refuses to run as root with its sandbox
  "$chromium_bin" "${args[@]}" "$url/" </dev/null >"$demo/chromium.log" 2>&1 &
  browser_pid=$!
  rc=0
  wait "$browser_pid" || rc=$?
  [ "$rc" -eq 0 ] || say "Chromium 結束（結束碼 $rc）/ Chromium exited with status $rc; see $demo/chromium.log"
  browser_pid=""
elif [ -f "$walk" ]; then
  step "無顯示器：以無頭瀏覽器走一遍示範 / no display: headless walk ($walk)"
  if [ -f extension/package.json ] && [ ! -d extension/node_modules ]; then
    command -v npm >/dev/null || ensure_pkgs npm
    (cd extension && npm ci --no-audit --no-fund)
  fi
  export CARDBRIDGE_CHROMIUM="$chromium_bin" CARDBRIDGE_NATIVE_MANIFEST="$manifest"
  rc=0
  timeout 600 node "$walk" --url "$url" --out out/screenshots </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "示範流程失敗（結束碼 $rc）/ the demo walk failed (exit status $rc); logs: $demo/site.log, $demo/host.log" >&2
    exit 1
  fi
  say "示範流程完成，截圖在 out/screenshots / walk done; screenshots in out/screenshots"
else
  say "沒有顯示器，也還沒有 $walk：略過瀏覽器示範 / no display and no $walk yet: browser part skipped"
  say "自行開啟 / to open it yourself: DISPLAY=:0 make demo"
fi
