# Sourced by the scripts that need pcscd: ensure_pcscd starts one unless one
# runs, and stops it on exit only if it started it (one pcscd per machine).
ensure_pcscd() {
  local log=$1
  if [ -S /run/pcscd/pcscd.comm ] && pgrep -x pcscd >/dev/null; then
    return 0
  fi
  if pgrep -x pcscd >/dev/null; then
    echo "pcscd runs but /run/pcscd/pcscd.comm is missing; not starting a second one" >&2
    return 1
  fi
  rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid # stale: no pcscd owns them
  /usr/sbin/pcscd --foreground --apdu >"$log" 2>&1 &
  PCSCD_PID=$!
  for _ in $(seq 100); do
    [ -S /run/pcscd/pcscd.comm ] && return 0
    kill -0 "$PCSCD_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "pcscd did not start; see $log" >&2
  return 1
}

stop_pcscd() {
  if [ -n "${PCSCD_PID:-}" ]; then
    kill "$PCSCD_PID" 2>/dev/null || true
    wait "$PCSCD_PID" 2>/dev/null || true
  fi
}
