#!/usr/bin/env bash
# Scale (issue 5, docs/benchmarks.md "Scale"): one e3xd with N peers (default 10,000), all in
# sync and kept alive by keepalive handshakes. The other ends are N core endpoints in one
# process (bench/scale_peers.cpp), each on its own loopback address 127.1.x.y.
#
# Reports, each beside its limit or baseline measured in the same run:
#   - resident memory per exchange: (RSS with N peers up - RSS of the same e3xd before) / N,
#     against the 2 KiB target;
#   - CPU at steady keepalive: e3xd's utime+stime over HOLD seconds as % of one core, beside
#     the same e3xd idle (no peers) over the same time, against the 2% target;
#   - time to bring all N up (and the connect rate the peers were started at).
#
#   bench/run-scale.sh [PEERS] [HOLD_SECONDS] [KEEPALIVE_SECONDS]     defaults 10000 60 25
# BUILD_DIR (default build-bench) is configured and built if needed.
set -euo pipefail
cd "$(dirname "$0")/.."

peers="${1:-10000}"
hold="${2:-60}"
keepalive="${3:-25}"
build_dir="${BUILD_DIR:-build-bench}"

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j 2 --target e3xd e3xctl e3x_scale_peers >/dev/null
e3xd="$build_dir/daemon/e3xd"
e3xctl="$build_dir/daemon/e3xctl"
tool="$build_dir/bench/e3x_scale_peers"

ulimit -n $((peers + 1024))  # one UDP socket per simulated peer
work="$(mktemp -d /tmp/e3x-scale.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/e3xd.toml" <<TOML
state_dir = "$work"
control_socket = "$work/control.sock"
log_level = "warn"
accept = "any"
[udp]
listen = ["127.0.0.1:$port"]
keepalive = $keepalive
TOML
"$e3xd" --config "$work/e3xd.toml" >"$work/e3xd.log" 2>&1 &
daemon=$!
pids+=("$daemon")
for _ in $(seq 1 100); do
  "$e3xctl" -s "$work/control.sock" status >/dev/null 2>&1 && break
  sleep 0.1
done
key="$("$e3xctl" -s "$work/control.sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"

hz="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Baseline: the same daemon idle, no peers, over the same hold time.
sleep 1
rss_before="$(rss_kib "$daemon")"
idle_start="$(cpu_ticks "$daemon")"
sleep "$hold"
idle_ticks=$(($(cpu_ticks "$daemon") - idle_start))

echo "starting $peers peers against e3xd (pid $daemon) on 127.0.0.1:$port"
"$tool" --target "127.0.0.1:$port" --key "$key" --peers "$peers" --keepalive "$keepalive" \
  --hold $((hold + 15)) >"$work/tool.log" 2>&1 &
tool_pid=$!
pids+=("$tool_pid")
for _ in $(seq 1 3000); do
  grep -q "^up $peers/$peers" "$work/tool.log" && break
  kill -0 "$tool_pid" 2>/dev/null || { cat "$work/tool.log"; exit 1; }
  sleep 0.1
done
grep "^up " "$work/tool.log" || { echo "the peers did not all come up" >&2; cat "$work/tool.log"; exit 1; }
sleep 5  # let the bring-up settle (probes, first confirmations)
up_in_e3xd="$("$e3xctl" -s "$work/control.sock" --json status | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["peers_up"], s["peers_total"])')"
rss_after="$(rss_kib "$daemon")"
steady_start="$(cpu_ticks "$daemon")"
sleep "$hold"
steady_ticks=$(($(cpu_ticks "$daemon") - steady_start))
rss_end="$(rss_kib "$daemon")"
wait "$tool_pid" || { echo "some peers fell out of sync:" >&2; tail -3 "$work/tool.log" >&2; exit 1; }
tail -1 "$work/tool.log"

python3 - "$peers" "$hold" "$hz" "$rss_before" "$rss_after" "$rss_end" "$idle_ticks" \
  "$steady_ticks" "$up_in_e3xd" "$(grep '^up ' "$work/tool.log")" <<'PY'
import sys
peers, hold, hz, rss0, rss1, rss2, idle, steady = map(int, sys.argv[1:9])
up_total, bring_up = sys.argv[9], sys.argv[10]
per_exchange = (rss1 - rss0) * 1024 / peers
idle_pct = 100 * idle / hz / hold
steady_pct = 100 * steady / hz / hold
print(f"\n== Scale: {peers} peers, keepalive as configured, {hold} s hold ==")
print(f"e3xd reports peers up/total: {up_total}")
print(f"bring-up: {bring_up}")
print(f"{'figure':34} {'value':>14} {'limit / baseline':>22}")
print(f"{'RSS before peers':34} {rss0:>11} KiB")
print(f"{'RSS with all peers up':34} {rss1:>11} KiB")
print(f"{'RSS after the hold':34} {rss2:>11} KiB")
print(f"{'resident memory per exchange':34} {per_exchange:>11.0f} B {'2048 B target':>22}")
print(f"{'CPU at steady keepalive':34} {steady_pct:>12.2f} % {'2 % target':>22}")
print(f"{'CPU idle, no peers (baseline)':34} {idle_pct:>12.2f} %")
print(("MET" if per_exchange <= 2048 else "NOT MET") +
      f": at most 2 KiB resident memory per exchange -- {per_exchange:.0f} B")
print(("MET" if steady_pct < 2 else "NOT MET") +
      f": {peers} kept-alive peers under 2% of one core -- {steady_pct:.2f}%")
PY
