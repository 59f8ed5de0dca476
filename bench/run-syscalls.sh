#!/usr/bin/env bash
# System calls per packet of e3xd's sending side (issue 13, "Transport costs"): two daemons on
# loopback, `e3xctl speedtest` from A to B for SECONDS, with `strace -c` counting A's system
# calls for the whole test. Prints each call's count per packet A sent. Compare builds by
# pointing E3XD / E3XCTL at them, e.g. the commit before a change:
#
#   bench/run-syscalls.sh [SECONDS]                        default 5; build-bench/ binaries
#   E3XD=/tmp/old/daemon/e3xd E3XCTL=/tmp/old/daemon/e3xctl bench/run-syscalls.sh
#
# strace slows the traced process several times over, so the rates it reports mean nothing;
# the counts per packet are what it is for. TRACE=0 runs the same test untraced and prints
# the speed test's own figures (rate, CPU per packet on each side) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_TO_RUN=${1:-5}
BUILD=${E3X_BUILD_DIR:-build-bench}
command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y strace >/dev/null
if [[ -z ${E3XD:-} ]]; then
  if [[ ! -x $BUILD/daemon/e3xd ]]; then bash scripts/install-deps.sh; fi
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j 2 --target e3xd e3xctl >/dev/null
  E3XD=$ROOT/$BUILD/daemon/e3xd
  E3XCTL=$ROOT/$BUILD/daemon/e3xctl
fi

WORK=$(mktemp -d /tmp/e3x-syscalls.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r PORT_A PORT_B < <(python3 -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
for side in a b; do
  mkdir -p "$WORK/$side"
  "$E3XCTL" keygen --out "$WORK/$side/identity.json" >/dev/null
done
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["3a"])' "$1"; }
write_config() {  # side port other other_port
  cat >"$WORK/$1/e3xd.toml" <<TOML
identity = "$WORK/$1/identity.json"
state_dir = "$WORK/$1"
control_socket = "$WORK/$1/control.sock"
log_level = "warn"
[udp]
listen = ["127.0.0.1:$2"]
[tcp]
listen = []
[[peer]]
name = "$3"
key = "$(key_of "$WORK/$3/identity.json")"
endpoints = ["udp://127.0.0.1:$4"]
TOML
}
write_config a "$PORT_A" b "$PORT_B"
write_config b "$PORT_B" a "$PORT_A"
"$E3XD" --config "$WORK/a/e3xd.toml" >"$WORK/a/log" 2>&1 &
PIDS+=($!)
PID_A=$!
"$E3XD" --config "$WORK/b/e3xd.toml" >"$WORK/b/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  "$E3XCTL" -s "$WORK/a/control.sock" --json peer b 2>/dev/null | grep -q '"state":"up"' && break
  sleep 0.1
done

if [[ ${TRACE:-1} == 0 ]]; then
  echo "e3xd: $E3XD"
  "$E3XCTL" -s "$WORK/a/control.sock" speedtest b --seconds "$SECONDS_TO_RUN" --size 1400
  exit 0
fi
strace -c -f -p "$PID_A" -o "$WORK/strace" &
STRACE=$!
sleep 0.5  # attached
"$E3XCTL" -s "$WORK/a/control.sock" --json speedtest b --seconds "$SECONDS_TO_RUN" --size 1400 \
  >"$WORK/speedtest.json"
kill -INT "$STRACE"
wait "$STRACE" 2>/dev/null || true

python3 - "$WORK/speedtest.json" "$WORK/strace" "$E3XD" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
def find(obj, key):
    if isinstance(obj, dict):
        if key in obj: return obj[key]
        for v in obj.values():
            r = find(v, key)
            if r is not None: return r
    return None
sent = find(result, "sent")
if isinstance(sent, dict): sent = sent.get("packets")
print(f"e3xd: {sys.argv[3]}")
print(f"packets sent by A: {sent}")
rows = []
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 5 and parts[0].replace('.', '').isdigit() and parts[-1] not in ("total",):
        calls, name = int(parts[3]), parts[-1]
        rows.append((calls, name))
rows.sort(reverse=True)
print(f"{'system call':<16}{'calls':>12}{'per packet':>12}")
for calls, name in rows[:8]:
    print(f"{name:<16}{calls:>12}{calls / sent:>12.3f}")
PY
