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

DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
BUILD=${E3X_BUILD_DIR:-build-bench}

# shellcheck source=bench/lib/netns.sh
source bench/lib/netns.sh
netns_prepare run-streams.sh "$BUILD" e3xd e3xctl

NA=e3xst$$a
NB=e3xst$$b
netns_init e3x-streams
netns_add "$NA" "$NB"
netns_veth "$NA" vst$$a 10.97.0.1/24 "$NB" vst$$b 10.97.0.2/24

# ---- e3xd pair: B serves iperf3's port, A forwards 127.0.0.1:5202 to it ----
e3xd_keygen a b
e3xd_config a 10.97.0.1 b 10.97.0.2 $'[[forward]]\nlisten = "127.0.0.1:5202"\npeer = "b"\nservice = "iperf"'
e3xd_config b 10.97.0.2 a 10.97.0.1 $'[[service]]\nname = "iperf"\ntarget = "tcp://127.0.0.1:5201"\nallow = ["a"]'
e3xd_start "$NA" a
e3xd_start "$NB" b
e3xd_wait_up a b

# ---- wireguard-go pair (userspace, TUN) ----
wg_keygen a b
wg_start "$NA" a ws$$a 10.96.0.1/24 b 10.97.0.2:51820 10.96.0.0/24 1420
wg_start "$NB" b ws$$b 10.96.0.2/24 a 10.97.0.1:51820 10.96.0.0/24 1420
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
