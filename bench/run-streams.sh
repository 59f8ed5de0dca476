#!/usr/bin/env bash
# Goodput of one TCP stream carried by e3xd (issue 11 and 13, docs/benchmarks.md "Streams").
# Run as root. Two network namespaces joined by a veth pair (10.97.0.1 and 10.97.0.2), and in
# the same run, each for the same duration, iperf3 (one TCP stream, A sends to B):
#   (a) direct over the veth: the limit every figure is judged against;
#   (b) through e3xd: A's [[forward]] on 127.0.0.1:5202 to B's [[service]] "iperf" (iperf3's
#       port on B's loopback), so TCP -> stream channel -> TCP;
#   (c) through wireguard-go between the same namespaces (TCP inside the tunnel);
#   (d) through `ssh -L` with chacha20-poly1305 (an sshd of its own in B on 10.97.0.2:2222,
#       the client's forward on A's 127.0.0.1:5204 to B's iperf3): what people use today to
#       reach a service on another host.
# Each is repeated ROUNDS times, interleaved; the median is reported. The reverse direction
# (-R, B sends) is measured too, since a forward carries both. The verdicts of issue 13's
# veth targets (e3xd >= 2x wireguard-go, e3xd >= ssh -L) are computed from the medians.
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

# ---- ssh -L: a throwaway sshd in B (its own keys and config in $WORK), the client in A ----
SSH_UP=
start_ssh_forward() {
  command -v sshd >/dev/null || command -v /usr/sbin/sshd >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server openssh-client >/dev/null
  local dir=$WORK/ssh _
  mkdir -p "$dir" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
  cp "$dir/client_key.pub" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<CONF
Port 2222
ListenAddress 10.97.0.2
HostKey $dir/host_key
PidFile none
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
Ciphers chacha20-poly1305@openssh.com
CONF
  ip netns exec "$NB" /usr/sbin/sshd -D -e -f "$dir/sshd_config" >"$dir/sshd.log" 2>&1 &
  PIDS+=($!)
  sleep 0.3
  ip netns exec "$NA" ssh -N -L 127.0.0.1:5204:127.0.0.1:5201 -p 2222 -i "$dir/client_key" \
    -c chacha20-poly1305@openssh.com -o BatchMode=yes -o ExitOnForwardFailure=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    root@10.97.0.2 >"$dir/ssh.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    if ip netns exec "$NA" ss -ltnH 'sport = :5204' | grep -q 5204; then
      SSH_UP=1
      return 0
    fi
    sleep 0.05
  done
  echo "ssh -L did not come up; measured without it:" >&2
  cat "$dir/sshd.log" "$dir/ssh.log" >&2
}
start_ssh_forward
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
  echo "round $round of $ROUNDS: direct, e3xd forward, wireguard-go${SSH_UP:+, ssh -L} (each way)" >&2
  measure direct 10.97.0.2 5201
  measure e3xd 127.0.0.1 5202
  measure wireguard 10.96.0.2 5201
  if [[ -n $SSH_UP ]]; then measure ssh 127.0.0.1 5204; fi
  measure direct_reverse 10.97.0.2 5201 -R
  measure e3xd_reverse 127.0.0.1 5202 -R
  measure wireguard_reverse 10.96.0.2 5201 -R
  if [[ -n $SSH_UP ]]; then measure ssh_reverse 127.0.0.1 5204 -R; fi
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
measured_ssh = any(r["what"].startswith("ssh") for r in rows)
paths = [("direct", "direct over the veth (limit)"), ("e3xd", "e3xd forward -> service"),
         ("wireguard", "wireguard-go tunnel")]
if measured_ssh:
    paths.append(("ssh", "ssh -L (chacha20-poly1305)"))
for label, name in paths:
    fwd, f1 = median(label)
    rev, f2 = median(label + "_reverse")
    cell = lambda v, b: (f"{v / 1e6:14.0f}", f"{100 * v / b:9.0f}%") if v and b else (f"{'failed':>14}", f"{'':>10}")
    a, b = cell(fwd, base), cell(rev, base_r)
    print(f"{name:<34} {a[0]} {a[1]} {b[0]} {b[1]}" + (f"  ({f1 + f2} runs failed)" if f1 + f2 else ""))

# Issue 13's veth targets, each direction on its own: MET only when both are.
print()
print("== Targets (issue 13, veth, no impairment) ==")
def target(baseline, factor, text):
    ratios = []
    for suffix in ("", "_reverse"):
        ours, _ = median("e3xd" + suffix)
        theirs, _ = median(baseline + suffix)
        ratios.append(ours / theirs if ours and theirs else None)
    if None in ratios:
        print(f"NOT MEASURED: {text} -- a run failed or was not made")
        return
    ok = all(r >= factor for r in ratios)
    detail = ", ".join(f"{d} {r:.2f}x" for d, r in zip(("A to B", "B to A"), ratios))
    print(f"{'MET' if ok else 'NOT MET'}: {text} -- {detail}")
target("wireguard", 2.0, "one stream through e3xd >= 2x TCP through wireguard-go")
if measured_ssh:
    target("ssh", 1.0, "one stream through e3xd >= ssh -L (chacha20-poly1305)")
else:
    print("NOT MEASURED: one stream through e3xd >= ssh -L -- sshd did not come up (see above)")
PY
