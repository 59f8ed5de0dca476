#!/usr/bin/env bash
# Goodput of one TCP stream carried by e3xd (issue 11 and 13, docs/benchmarks.md "Streams").
# Run as root. Two network namespaces joined by a veth pair (10.97.0.1 and 10.97.0.2), and in
# the same run, each for the same duration, iperf3 (one TCP stream, A sends to B):
#   (a) direct over the veth: the limit every figure is judged against;
#   (b) through e3xd: A's [[forward]] on 127.0.0.1:5202 to B's [[service]] "iperf" (iperf3's
#       port on B's loopback), so TCP -> stream channel -> TCP;
#   (c) through wireguard-go between the same namespaces (TCP inside the tunnel).
# Each is repeated ROUNDS times, interleaved; the median is reported. The reverse direction
# (-R, B sends) is measured too, since a forward carries both.
#
#   bench/run-streams.sh [SECONDS]          default 10
#   ROUNDS=3 E3X_BUILD_DIR=build-bench bench/run-streams.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
BUILD=${E3X_BUILD_DIR:-build-bench}

if [[ $(id -u) -ne 0 ]]; then
  echo "run-streams.sh: needs root (network namespaces, wireguard-go)" >&2
  exit 1
fi
missing=()
command -v wireguard-go >/dev/null || missing+=(wireguard-go)
command -v wg >/dev/null || missing+=(wireguard-tools)
command -v iperf3 >/dev/null || missing+=(iperf3)
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
fi
[[ -c /dev/net/tun ]] || { echo "run-streams.sh: /dev/net/tun is missing" >&2; exit 1; }

if [[ ! -x $BUILD/daemon/e3xd ]]; then bash scripts/install-deps.sh; fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j 2 --target e3xd e3xctl >/dev/null
E3XD=$ROOT/$BUILD/daemon/e3xd
E3XCTL=$ROOT/$BUILD/daemon/e3xctl

NA=e3xst$$a
NB=e3xst$$b
WORK=$(mktemp -d /tmp/e3x-streams.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NA" 2>/dev/null || true
  ip netns del "$NB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NA"
ip netns add "$NB"
ip link add vst$$a netns "$NA" type veth peer name vst$$b netns "$NB"
ip -n "$NA" addr add 10.97.0.1/24 dev vst$$a
ip -n "$NB" addr add 10.97.0.2/24 dev vst$$b
for ns in "$NA" "$NB"; do ip -n "$ns" link set lo up; done
ip -n "$NA" link set vst$$a up
ip -n "$NB" link set vst$$b up

# ---- e3xd pair: B serves iperf3's port, A forwards 127.0.0.1:5202 to it ----
for side in a b; do
  mkdir -p "$WORK/$side"
  "$E3XCTL" keygen --out "$WORK/$side/identity.json" >/dev/null
done
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["3a"])' "$1"; }
write_config() {  # side ip other other_ip extra
  cat >"$WORK/$1/e3xd.toml" <<TOML
identity = "$WORK/$1/identity.json"
state_dir = "$WORK/$1"
control_socket = "$WORK/$1/control.sock"
log_level = "info"
[udp]
listen = ["$2:42424"]
[tcp]
listen = []
[[peer]]
name = "$3"
key = "$(key_of "$WORK/$3/identity.json")"
endpoints = ["udp://$4:42424"]
$5
TOML
}
write_config a 10.97.0.1 b 10.97.0.2 $'[[forward]]\nlisten = "127.0.0.1:5202"\npeer = "b"\nservice = "iperf"'
write_config b 10.97.0.2 a 10.97.0.1 $'[[service]]\nname = "iperf"\ntarget = "tcp://127.0.0.1:5201"\nallow = ["a"]'
ip netns exec "$NA" "$E3XD" --config "$WORK/a/e3xd.toml" >"$WORK/a/log" 2>&1 &
PIDS+=($!)
ip netns exec "$NB" "$E3XD" --config "$WORK/b/e3xd.toml" >"$WORK/b/log" 2>&1 &
PIDS+=($!)
state=
for _ in $(seq 200); do
  state=$("$E3XCTL" -s "$WORK/a/control.sock" --json peer b 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || true)
  [[ $state == up ]] && break
  sleep 0.1
done
[[ $state == up ]] || { echo "e3xd pair did not come up"; cat "$WORK"/*/log; exit 1; }

# ---- wireguard-go pair (userspace, TUN) ----
for side in a b; do
  (umask 077 && wg genkey >"$WORK/$side/wg.key")
  wg pubkey <"$WORK/$side/wg.key" >"$WORK/$side/wg.pub"
done
start_wg() {  # ns side tunnel_ip other other_ip
  local dev=ws$$$2
  ip netns exec "$1" wireguard-go -f "$dev" >"$WORK/$2/wg.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do [[ -S /var/run/wireguard/$dev.sock ]] && break; sleep 0.05; done
  ip netns exec "$1" wg set "$dev" private-key "$WORK/$2/wg.key" listen-port 51820 \
    peer "$(cat "$WORK/$4/wg.pub")" allowed-ips 10.96.0.0/24 endpoint "$5:51820"
  ip -n "$1" addr add "$3/24" dev "$dev"
  ip -n "$1" link set "$dev" mtu 1420 up
}
start_wg "$NA" a 10.96.0.1 b 10.97.0.2
start_wg "$NB" b 10.96.0.2 a 10.97.0.1
ip netns exec "$NB" iperf3 -s -B 0.0.0.0 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
# Warm-up, untimed: wireguard's handshake, and the first stream through e3xd.
ip netns exec "$NA" iperf3 -c 10.96.0.2 -p 5201 -t 1 >/dev/null 2>&1 || true
ip netns exec "$NA" iperf3 -c 127.0.0.1 -p 5202 -t 1 >/dev/null 2>&1 || true

# One iperf3 run: label, target host, port, extra args. Appends a JSON line.
RESULTS=$WORK/results.jsonl
measure() {
  local label=$1 host=$2 port=$3
  shift 3
  ip netns exec "$NA" iperf3 -c "$host" -p "$port" -t "$DURATION" --json "$@" 2>/dev/null |
    python3 -c '
import json,sys
label=sys.argv[1]
try:
    r=json.load(sys.stdin); s=r["end"]["sum_received"]
    print(json.dumps({"what":label,"bps":s["bits_per_second"],"bytes":s["bytes"],
      "retransmits":r["end"]["sum_sent"].get("retransmits")}))
except Exception as e:
    print(json.dumps({"what":label,"failed":str(e)}))' "$label" >>"$RESULTS"
}
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS: direct, e3xd forward, wireguard-go (each way)" >&2
  measure direct 10.97.0.2 5201
  measure e3xd 127.0.0.1 5202
  measure wireguard 10.96.0.2 5201
  measure direct_reverse 10.97.0.2 5201 -R
  measure e3xd_reverse 127.0.0.1 5202 -R
  measure wireguard_reverse 10.96.0.2 5201 -R
done

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" "$DURATION" "$ROUNDS" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def median(label):
    values = [r["bps"] for r in rows if r["what"] == label and "bps" in r]
    failed = sum(1 for r in rows if r["what"] == label and "failed" in r)
    return (statistics.median(values) if values else None), failed
print(f"one TCP stream, iperf3 -t {sys.argv[2]}, median of {sys.argv[3]} rounds")
print(f"{'path':<34} {'A to B Mbit/s':>14} {'vs direct':>10} {'B to A Mbit/s':>14} {'vs direct':>10}")
base, _ = median("direct")
base_r, _ = median("direct_reverse")
for label, name in (("direct", "direct over the veth (limit)"), ("e3xd", "e3xd forward -> service"),
                    ("wireguard", "wireguard-go tunnel")):
    fwd, f1 = median(label)
    rev, f2 = median(label + "_reverse")
    cell = lambda v, b: (f"{v / 1e6:14.0f}", f"{100 * v / b:9.0f}%") if v and b else (f"{'failed':>14}", f"{'':>10}")
    a, b = cell(fwd, base), cell(rev, base_r)
    print(f"{name:<34} {a[0]} {a[1]} {b[0]} {b[1]}" + (f"  ({f1 + f2} runs failed)" if f1 + f2 else ""))
PY
