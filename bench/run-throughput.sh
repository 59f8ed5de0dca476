#!/usr/bin/env bash
# Throughput between two e3xd processes (issue 5, docs/benchmarks.md "Throughput between two
# e3xd processes"). Run as root. Two network namespaces joined by a veth pair (10.99.0.1 and
# 10.99.0.2); in the same run, each for the same duration and with 1400-byte payloads:
#   (a) e3xd -> e3xd: `e3xctl speedtest` (channel INNER of 1400 bytes, unreliable channel);
#   (b) raw UDP: bench/udp_blast, one send()/recv() per datagram in batches of 64 (e3xd's
#       pattern) -- the limit every figure is judged against; and, for information, the same
#       with sendmmsg()/recvmmsg(), and with UDP_SEGMENT/UDP_GRO runs (e3xd's own batching
#       since [udp] gso);
#   (c) wireguard-go between the same namespaces, carrying udp_blast's 1400-byte datagrams
#       (the same tool as (b)), and for information iperf3 -u -b 0 -l 1400.
# Each measurement is repeated ROUNDS times, interleaved, and the median is reported.
#
#   bench/run-throughput.sh [SECONDS]          default 10
#   ROUNDS=3 E3X_BUILD_DIR=build-bench bench/run-throughput.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
SIZE=1400
BUILD=${E3X_BUILD_DIR:-build-bench}

if [[ $(id -u) -ne 0 ]]; then
  echo "run-throughput.sh: needs root (network namespaces, wireguard-go)" >&2
  exit 1
fi
missing=()
command -v wireguard-go >/dev/null || missing+=(wireguard-go)
command -v wg >/dev/null || missing+=(wireguard-tools)
command -v iperf3 >/dev/null || missing+=(iperf3)
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
fi
[[ -c /dev/net/tun ]] || { echo "run-throughput.sh: /dev/net/tun is missing" >&2; exit 1; }

if [[ ! -x $BUILD/daemon/e3xd ]]; then bash scripts/install-deps.sh; fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j 2 --target e3xd e3xctl udp_blast >/dev/null
E3XD=$ROOT/$BUILD/daemon/e3xd
E3XCTL=$ROOT/$BUILD/daemon/e3xctl
BLAST=$ROOT/$BUILD/bench/udp_blast

# ---- namespaces (names carry our PID so parallel runs do not collide) ----
NA=e3xtp$$a
NB=e3xtp$$b
WORK=$(mktemp -d /tmp/e3x-throughput.XXXXXX)
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
ip link add vtp$$a netns "$NA" type veth peer name vtp$$b netns "$NB"
ip -n "$NA" addr add 10.99.0.1/24 dev vtp$$a
ip -n "$NB" addr add 10.99.0.2/24 dev vtp$$b
for ns in "$NA" "$NB"; do
  ip -n "$ns" link set lo up
done
ip -n "$NA" link set vtp$$a up
ip -n "$NB" link set vtp$$b up

# Runs a udp_blast pair: receiver in $1, sender in $2 to $3; extra args after. Prints the
# receiver's JSON line then the sender's.
blast() {
  local rx_ns=$1 tx_ns=$2 to=$3
  shift 3
  local out=$WORK/blast.$RANDOM
  ip netns exec "$rx_ns" "$BLAST" recv --bind "$to" "$@" >"$out" &
  local rx=$!
  PIDS+=("$rx")
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  local tx_line
  tx_line=$(ip netns exec "$tx_ns" "$BLAST" send --to "$to" --seconds "$DURATION" --size "$SIZE" "$@")
  wait "$rx" || true
  tail -n 1 "$out"
  echo "$tx_line"
}

# CPU seconds (user + system) a process has used so far.
cpu_of() {
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# ---- e3xd pair ----
for side in a b; do
  mkdir -p "$WORK/$side"
  "$E3XCTL" keygen --out "$WORK/$side/identity.json" >/dev/null
done
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["3a"])' "$1"; }
write_config() {  # side ip other other_ip
  cat >"$WORK/$1/e3xd.toml" <<EOF
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
EOF
}
write_config a 10.99.0.1 b 10.99.0.2
write_config b 10.99.0.2 a 10.99.0.1
ip netns exec "$NA" "$E3XD" --config "$WORK/a/e3xd.toml" >"$WORK/a/log" 2>&1 &
PIDS+=($!)
ip netns exec "$NB" "$E3XD" --config "$WORK/b/e3xd.toml" >"$WORK/b/log" 2>&1 &
PIDS+=($!)
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
  # Each side has its own interface name: wireguard-go's control socket
  # (/var/run/wireguard/NAME.sock) is in the file system, which the namespaces share.
  local dev=wg$$$2
  # -f keeps it in the foreground so we hold its PID (for CPU time and cleanup).
  ip netns exec "$1" wireguard-go -f "$dev" >"$WORK/$2/wg.log" 2>&1 &
  PIDS+=($!)
  eval "WG_PID_$2=$!"
  for _ in $(seq 200); do [[ -S /var/run/wireguard/$dev.sock ]] && break; sleep 0.05; done
  ip netns exec "$1" wg set "$dev" private-key "$WORK/$2/wg.key" listen-port 51820 \
    peer "$(cat "$WORK/$4/wg.pub")" allowed-ips 10.98.0.0/24 endpoint "$5:51820"
  ip -n "$1" addr add "$3/24" dev "$dev"
  # 1440 so a 1400-byte UDP payload (1428-byte IP packet) is not fragmented inside the
  # tunnel; the encrypted datagram (1428 + 32 + 28 = 1488 bytes) still fits the veth's 1500.
  ip -n "$1" link set "$dev" mtu 1440 up
}
start_wg "$NA" a 10.98.0.1 b 10.99.0.2
start_wg "$NB" b 10.98.0.2 a 10.99.0.1
# A short warm-up through the tunnel completes wireguard's handshake before anything is timed.
DURATION=1 blast "$NB" "$NA" 10.98.0.2:5000 >/dev/null

# ---- the measurements, interleaved ----
RESULTS=$WORK/results.jsonl
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS: raw UDP, raw UDP (mmsg), raw UDP (GSO/GRO), e3xd, wireguard-go, iperf3 over wireguard-go" >&2
  blast "$NB" "$NA" 10.99.0.2:5001 | python3 -c '
import json,sys; rx=json.loads(sys.stdin.readline()); tx=json.loads(sys.stdin.readline())
print(json.dumps({"what":"raw","rx":rx,"tx":tx}))' >>"$RESULTS"
  blast "$NB" "$NA" 10.99.0.2:5002 --mmsg | python3 -c '
import json,sys; rx=json.loads(sys.stdin.readline()); tx=json.loads(sys.stdin.readline())
print(json.dumps({"what":"raw_mmsg","rx":rx,"tx":tx}))' >>"$RESULTS"
  blast "$NB" "$NA" 10.99.0.2:5004 --gso | python3 -c '
import json,sys; rx=json.loads(sys.stdin.readline()); tx=json.loads(sys.stdin.readline())
print(json.dumps({"what":"raw_gso","rx":rx,"tx":tx}))' >>"$RESULTS"

  "$E3XCTL" -s "$WORK/a/control.sock" --json speedtest b --seconds "$DURATION" --size "$SIZE" |
    python3 -c 'import json,sys; print(json.dumps({"what":"e3xd","result":json.load(sys.stdin)}))' \
      >>"$RESULTS"

  cpu_a0=$(cpu_of "$WG_PID_a")
  cpu_b0=$(cpu_of "$WG_PID_b")
  wg_out=$(blast "$NB" "$NA" 10.98.0.2:5003)
  cpu_a1=$(cpu_of "$WG_PID_a")
  cpu_b1=$(cpu_of "$WG_PID_b")
  echo "$wg_out" | python3 -c '
import json,sys; rx=json.loads(sys.stdin.readline()); tx=json.loads(sys.stdin.readline())
a0,a1,b0,b1=map(float,sys.argv[1:5])
print(json.dumps({"what":"wg","rx":rx,"tx":tx,"wg_cpu_tx":a1-a0,"wg_cpu_rx":b1-b0}))' \
    "$cpu_a0" "$cpu_a1" "$cpu_b0" "$cpu_b1" >>"$RESULTS"

  ip netns exec "$NB" iperf3 -s -1 -B 10.98.0.2 >/dev/null 2>&1 &
  iperf_server=$!
  PIDS+=("$iperf_server")
  sleep 0.5
  ip netns exec "$NA" iperf3 -c 10.98.0.2 -u -b 0 -l "$SIZE" -t "$DURATION" --json 2>/dev/null |
    python3 -c '
import json,sys; r=json.load(sys.stdin)["end"]["sum"]
print(json.dumps({"what":"wg_iperf3","packets":r["packets"]-r["lost_packets"],"sent":r["packets"],
  "seconds":r["seconds"]}))' >>"$RESULTS" || echo '{"what":"wg_iperf3","failed":true}' >>"$RESULTS"
  wait "$iperf_server" 2>/dev/null || true
done

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$ROOT/bench/throughput_table.py" "$RESULTS" "$DURATION" "$SIZE"
