#!/usr/bin/env bash
# Where each microsecond of a stream packet goes (issue 13: "if [ssh -L] is missed, show where
# each microsecond per packet goes"; docs/benchmarks.md). Run as root. Two namespaces joined by
# a veth pair, as bench/run-streams.sh builds them: A's [[forward]] on 127.0.0.1:5202 to B's
# [[service]] "iperf", one iperf3 stream A to B for SECONDS with `perf record` on both daemons.
# Prints the goodput, each daemon's CPU time per data packet (from /proc/PID/stat and the
# packet counts of `e3xctl peer`), and that time split by where perf found the daemon
# (libsodium, kernel, libc, e3xd, Boost.JSON, the rest).
#
#   bench/run-stream-cost.sh [SECONDS]          default 8
#   E3X_BUILD_DIR=build bench/run-stream-cost.sh 10
#
# perf samples at 2999 Hz; its own cost is a few percent of the figures. Without perf (the
# linux-perf package) only the CPU per packet is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-8}
BUILD=${E3X_BUILD_DIR:-build-bench}

# shellcheck source=bench/lib/netns.sh
source bench/lib/netns.sh
netns_prepare run-stream-cost.sh "$BUILD" e3xd e3xctl
command -v perf >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y linux-perf >/dev/null 2>&1 || true

NA=e3xsc$$a
NB=e3xsc$$b
netns_init e3x-stream-cost
netns_add "$NA" "$NB"
netns_veth "$NA" vsc$$a 10.95.0.1/24 "$NB" vsc$$b 10.95.0.2/24

e3xd_keygen a b
e3xd_config a 10.95.0.1 b 10.95.0.2 $'[[forward]]\nlisten = "127.0.0.1:5202"\npeer = "b"\nservice = "iperf"'
e3xd_config b 10.95.0.2 a 10.95.0.1 $'[[service]]\nname = "iperf"\ntarget = "tcp://127.0.0.1:5201"\nallow = ["a"]'
e3xd_start "$NA" a
e3xd_start "$NB" b
e3xd_wait_up a b
ip netns exec "$NB" iperf3 -s -B 0.0.0.0 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
# Warm-up, untimed: the first stream through the forward.
ip netns exec "$NA" iperf3 -c 127.0.0.1 -p 5202 -t 1 >/dev/null 2>&1 || true

# `ip netns exec` execs e3xd, so these are the daemons' own pids.
PID_A=$(pgrep -f "e3xd --config $WORK/a/e3xd.toml" | head -n 1)
PID_B=$(pgrep -f "e3xd --config $WORK/b/e3xd.toml" | head -n 1)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
packets() {  # side peer: "tx rx" datagrams of SIDE's exchange with PEER
  "$E3XCTL" -s "$WORK/$1/control.sock" --json peer "$2" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tx_packets"], d["rx_packets"])'
}

cpu_a0=$(cpu_ticks "$PID_A")
cpu_b0=$(cpu_ticks "$PID_B")
packets_a0=$(packets a b)
packets_b0=$(packets b a)
PERF_PID=
if command -v perf >/dev/null; then
  perf record -q -F 2999 -o "$WORK/perf.data" -p "$PID_A,$PID_B" -- sleep $((DURATION + 1)) \
    >/dev/null 2>&1 &
  PERF_PID=$!
fi
ip netns exec "$NA" iperf3 -c 127.0.0.1 -p 5202 -t "$DURATION" --json >"$WORK/iperf.json"
cpu_a1=$(cpu_ticks "$PID_A")
cpu_b1=$(cpu_ticks "$PID_B")
packets_a1=$(packets a b)
packets_b1=$(packets b a)
if [[ -n $PERF_PID ]]; then
  wait "$PERF_PID" || true
  perf report -i "$WORK/perf.data" --no-children --sort pid,dso --stdio 2>/dev/null \
    >"$WORK/perf.txt" || true
fi

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/iperf.json" "$(getconf CLK_TCK)" "$PID_A" "$PID_B" \
  "$cpu_a0 $cpu_a1 $cpu_b0 $cpu_b1" "$packets_a0 $packets_a1 $packets_b0 $packets_b1" \
  "$WORK/perf.txt" <<'PY'
import json, os, re, sys

iperf, ticks, pid_a, pid_b, cpu, counts, perf_txt = sys.argv[1:8]
end = json.load(open(iperf))["end"]["sum_received"]
ca0, ca1, cb0, cb1 = (float(x) / float(ticks) for x in cpu.split())
a_tx0, a_rx0, a_tx1, a_rx1, b_tx0, b_rx0, b_tx1, b_rx1 = map(int, counts.split())
data = a_tx1 - a_tx0  # every datagram A sends on this exchange is stream data
acks = b_tx1 - b_tx0
print(f"goodput {end['bits_per_second'] / 1e6:.0f} Mbit/s over {end['seconds']:.1f} s; "
      f"{data} data packets A to B, {acks} acks B to A")
us = {"A": (ca1 - ca0) * 1e6 / data, "B": (cb1 - cb0) * 1e6 / data}
print(f"CPU per data packet: A (seals, sends, opens acks) {us['A']:.2f} us "
      f"({ca1 - ca0:.2f} s); B (receives, opens, acks) {us['B']:.2f} us ({cb1 - cb0:.2f} s)")

# perf's "pid,dso" table: share of all samples per (pid, dso).
groups = [("libsodium", r"libsodium"), ("kernel", r"\[kernel"), ("libc", r"libc\.so"),
          ("e3xd", r"^e3xd$"), ("Boost.JSON", r"boost_json")]
shares = {"A": {}, "B": {}}
if os.path.exists(perf_txt):
    for line in open(perf_txt):
        m = re.match(r"\s*([\d.]+)%\s+(\d+):\S+\s+(\S+)", line)
        if not m:
            continue
        side = "A" if m.group(2) == pid_a else "B" if m.group(2) == pid_b else None
        if side is None:
            continue
        name = next((g for g, pattern in groups if re.search(pattern, m.group(3))), "other")
        shares[side][name] = shares[side].get(name, 0.0) + float(m.group(1))
if not shares["A"] or not shares["B"]:
    print("(no perf samples: install linux-perf for the split)")
    sys.exit(0)
print(f"\n{'where (us per data packet)':<28}{'A':>16}{'B':>16}")
for name in [g for g, _ in groups] + ["other"]:
    cells = []
    for side in "AB":
        total = sum(shares[side].values())
        part = shares[side].get(name, 0.0) / total
        cells.append(f"{us[side] * part:6.2f} ({part:4.0%})")
    print(f"{name:<28}{cells[0]:>16}{cells[1]:>16}")
PY
