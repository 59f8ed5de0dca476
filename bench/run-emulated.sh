#!/usr/bin/env bash
# Streams over an emulated long, narrow, lossy path (issue 13; docs/benchmarks.md "Streams over
# an emulated path"). Run as root. This kernel has no netem, so three namespaces:
#
#   A 10.98.1.1 --veth-- 10.98.1.2 M 10.98.2.2 --veth-- 10.98.2.1 B
#
# with bench/link_emulator.cpp in M, a UDP relay each peer is configured to reach the other
# through (A's peers are at 10.98.1.2, B's at 10.98.2.2; no routing across M). e3xd
# (A's [[forward]] on 127.0.0.1:5202 to B's [[service]] "iperf"), wireguard-go (tunnel
# 10.98.3.0/24) and udp_blast all cross the same emulator, which shares one bottleneck per
# direction between them. For each link setting:
#   none   no impairment: the emulator's own limit;
#   wan    20 ms each way (40 ms RTT), 100 Mbit/s, queue one BDP (500 kB);
#   lossy  the same with 1% random loss each way;
# it measures, each for SECONDS: udp_blast's 1400-byte datagrams at full rate (what the
# emulator forwards) and a UDP ping-pong (the path's bare RTT); iperf3 one TCP stream A to B
# through e3xd and through wireguard-go (with the system's TCP congestion control, and with
# CUBIC too where that is not the default); the e3xd stream and the default TCP once more in
# steady state (iperf3 -O OMIT: counted after the first OMIT seconds; impaired links only);
# a stream that starts right after a 1 s stream through the same tunnel (impaired links only:
# what its first 1.5 s carry, from the receiving iperf3's 0.1 s intervals, as the fresh
# streams' are); two streams at once through e3xd (iperf3 -P 2, each its own forward
# connection and channel);
# one stream through e3xd and TCP through wireguard-go at the same time (how e3xd shares a
# bottleneck with a loss-based TCP: CUBIC where the system has it); `e3xctl ping b` round
# trips idle and under a bulk stream through e3xd. Each is repeated ROUNDS times, interleaved;
# medians are reported, and bench/emulated_table.py prints the table, the emulator's counts (with the datagrams the
# endpoints' own UDP receive buffers dropped, which the emulator cannot see) and the verdicts.
#
#   bench/run-emulated.sh [SECONDS]        default 10
#   ROUNDS=3 E3X_BUILD_DIR=build-bench SETTINGS="wan lossy" bench/run-emulated.sh 20
#   CONGESTION=newreno bench/run-emulated.sh      e3xd's [streams] congestion (default bbr, as e3xd's)
#   OMIT=0 bench/run-emulated.sh           no steady-state measurements (default: after 2 s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${1:-10}
ROUNDS=${ROUNDS:-1}
BUILD=${E3X_BUILD_DIR:-build-bench}
SETTINGS=${SETTINGS:-none wan lossy}
CONGESTION=${CONGESTION:-bbr}
PINGS=${PINGS:-10}
# The steady-state measurements run iperf3 -O OMIT: the first OMIT seconds (both ends' start:
# Startup or slow start, iperf3's own exchange) run but are not counted; 0 leaves them out.
OMIT=${OMIT:-2}
RATE=100M
DELAY_MS=20
LOSS=0.01

# shellcheck source=bench/lib/netns.sh
source bench/lib/netns.sh
netns_prepare run-emulated.sh "$BUILD" e3xd e3xctl udp_blast e3x_link_emulator
EMULATOR=$ROOT/$BUILD/bench/e3x_link_emulator
BLAST=$ROOT/$BUILD/bench/udp_blast

NA=e3xem$$a
NM=e3xem$$m
NB=e3xem$$b
netns_init e3x-emulated
netns_add "$NA" "$NM" "$NB"
netns_veth "$NA" vem$$a 10.98.1.1/24 "$NM" vem$$ma 10.98.1.2/24
netns_veth "$NM" vem$$mb 10.98.2.2/24 "$NB" vem$$b 10.98.2.1/24

# ---- the emulator: one relay pair per port, A side and B side fixed ----
# e3xd 42424, wireguard-go 51820, udp_blast 5001, ping-pong 5002.
EMULATOR_PID=
start_emulator() {  # setting
  local args=()
  case $1 in
    none) ;;
    wan) args=(--delay-ms "$DELAY_MS" --rate "$RATE") ;;
    lossy) args=(--delay-ms "$DELAY_MS" --rate "$RATE" --loss "$LOSS") ;;
  esac
  # The daemons listen on fixed ports, so either side may speak first (a keepalive from B
  # after a restart of the emulator); udp_blast's senders use ephemeral ports, learnt.
  local pairs=() port
  for port in 42424 51820; do
    pairs+=(--pair "10.98.1.2:$port,10.98.2.2:$port,10.98.2.1:$port,10.98.1.1:$port")
  done
  for port in 5001 5002; do
    pairs+=(--pair "10.98.1.2:$port,10.98.2.2:$port,10.98.2.1:$port")
  done
  ip netns exec "$NM" "$EMULATOR" "${pairs[@]}" "${args[@]}" --seed "$RANDOM" \
    --stats-file "$WORK/emulator.stats" >"$WORK/emulator.out" 2>&1 &
  EMULATOR_PID=$!
  PIDS+=("$EMULATOR_PID")
  local _
  for _ in $(seq 100); do grep -q listening "$WORK/emulator.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "the emulator did not start:" >&2
  cat "$WORK/emulator.out" >&2
  exit 1
}
stop_emulator() {  # setting round: appends its counts
  kill -TERM "$EMULATOR_PID"
  wait "$EMULATOR_PID" || true
  tail -n 1 "$WORK/emulator.out" | python3 -c '
import json,sys
print(json.dumps({"setting":sys.argv[1],"round":int(sys.argv[2]),"what":"emulator",
                  "counts":json.load(sys.stdin)}))' "$1" "$2" >>"$RESULTS"
}

# The congestion control of the TCP inside wireguard-go (iperf3's, in A's namespace): the
# system's default, which namespaces inherit. With BBR, random loss barely slows it; a
# loss-based TCP (CUBIC, Reno) is held near MSS/RTT * 1.22/sqrt(loss) (Mathis et al.), as
# e3xd's NewReno is. Where the default is not CUBIC, wireguard-go is also measured with CUBIC.
TCP_CC=$(ip netns exec "$NA" sysctl -n net.ipv4.tcp_congestion_control)
CUBIC=
if [[ $TCP_CC != cubic ]] && grep -qw cubic /proc/sys/net/ipv4/tcp_available_congestion_control; then
  CUBIC=1
fi
SHARED_CC=$TCP_CC  # the TCP a stream through e3xd shares the link with: CUBIC where there is one
if [[ -n $CUBIC ]]; then SHARED_CC=cubic; fi

# ---- e3xd pair through the emulator ----
e3xd_keygen a b
STREAMS_TOML=$'\n[streams]\ncongestion = "'"$CONGESTION"'"'
e3xd_config a 10.98.1.1 b 10.98.1.2 $'[[forward]]\nlisten = "127.0.0.1:5202"\npeer = "b"\nservice = "iperf"'"$STREAMS_TOML"
e3xd_config b 10.98.2.1 a 10.98.2.2 $'[[service]]\nname = "iperf"\ntarget = "tcp://127.0.0.1:5201"\nallow = ["a"]'"$STREAMS_TOML"
RESULTS=$WORK/results.jsonl
start_emulator none
e3xd_start "$NA" a
e3xd_start "$NB" b
e3xd_wait_up a b

# ---- wireguard-go pair through the emulator ----
wg_keygen a b
wg_start "$NA" a wem$$a 10.98.3.1/24 b 10.98.1.2:51820 10.98.3.0/24 1420
wg_start "$NB" b wem$$b 10.98.3.2/24 a 10.98.2.2:51820 10.98.3.0/24 1420
# Its 0.1 s intervals, which a client fetches with --get-server-output, show a stream's start
# as it arrived (the client's own show what its local socket took).
ip netns exec "$NB" iperf3 -s -J -i 0.1 -B 0.0.0.0 -p 5201 >/dev/null 2>&1 &
PIDS+=($!)
# A second server for the TCP that runs beside a stream through e3xd (one iperf3 server runs
# one test at a time; e3xd's service reaches the first).
ip netns exec "$NB" iperf3 -s -B 10.98.3.2 -p 5203 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
# The bring-up relay is not measured: each link setting gets a fresh emulator and its counts.
kill -TERM "$EMULATOR_PID"
wait "$EMULATOR_PID" || true

# The emulator's counts so far (SIGUSR1 makes it write them to its stats file).
emulator_counts() {
  rm -f "$WORK/emulator.stats"
  kill -USR1 "$EMULATOR_PID"
  local _
  for _ in $(seq 200); do [[ -s $WORK/emulator.stats ]] && break; sleep 0.01; done
  cat "$WORK/emulator.stats"
}

# Datagrams the kernel dropped at full UDP receive buffers in namespace NS so far (every socket
# there: e3xd's or wireguard-go's). The emulator never sees these: to the endpoint they are
# lost packets all the same (data at B, acks at A), and a loss-based sender backs off for them.
rcvbuf_errors() {  # ns
  ip netns exec "$1" awk '/^Udp:/ { if (!col) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") col = i }
    else { print $col; exit } }' /proc/net/snmp
}

# Where e3xd's sender at A has spent its time on its path to B so far (`congestion.limited_ms`
# of `e3xctl peer b`: paced, congestion window, peer's window, application), with its BBR's
# RTT probes (`rtt_probes`, `rtt_renewals`: counts, not ms), or null.
send_limits() {
  "$E3XCTL" -s "$WORK/a/control.sock" --json peer b 2>/dev/null |
    python3 -c 'import json,sys
c=json.load(sys.stdin)["congestion"]
print(json.dumps({**c["limited_ms"], "rtt_probes": c["rtt_probes"], "rtt_renewals": c["rtt_renewals"]}))' \
      2>/dev/null || echo null
}

# measured SETTING ROUND WHAT COMMAND...: records COMMAND's JSON output as WHAT, and what the
# emulator counted meanwhile (each counter's increase) as WHAT@emulator, with the endpoints'
# receive-buffer drops in A and B and the increase of A's send_limits meanwhile.
measured() {
  local setting=$1 rnd=$2 what=$3 before after a_before b_before limits_before
  shift 3
  before=$(emulator_counts)
  a_before=$(rcvbuf_errors "$NA")
  b_before=$(rcvbuf_errors "$NB")
  limits_before=$(send_limits)
  "$@" | record "$setting" "$rnd" "$what"
  after=$(emulator_counts)
  python3 -c '
import json,sys
b,a=json.loads(sys.argv[4]),json.loads(sys.argv[5])
delta={d:{k:a[d][k]-b[d][k] for k in a[d] if isinstance(a[d][k],int) and not isinstance(a[d][k],bool)}
       for d in ("a_to_b","b_to_a")}
endpoints={"a":int(sys.argv[8])-int(sys.argv[6]),"b":int(sys.argv[9])-int(sys.argv[7])}
lb,la=json.loads(sys.argv[10]),json.loads(sys.argv[11])
limits={k:la[k]-lb.get(k,0) for k in la} if isinstance(la,dict) and isinstance(lb,dict) else None
probes={k:limits.pop(k) for k in ("rtt_probes","rtt_renewals") if k in limits} if limits else None
print(json.dumps({"setting":sys.argv[1],"round":int(sys.argv[2]),"what":sys.argv[3]+"@emulator",
                  "delta":delta,"endpoint_rcvbuf_drops":endpoints,"a_send_limits_ms":limits,
                  "a_rtt_probes":probes}))' \
    "$setting" "$rnd" "$what" "$before" "$after" "$a_before" "$b_before" \
    "$(rcvbuf_errors "$NA")" "$(rcvbuf_errors "$NB")" "$limits_before" "$(send_limits)" >>"$RESULTS"
}

record() {  # setting round what: a JSON document on stdin becomes one line of results
  python3 -c '
import json,sys
setting,rnd,what=sys.argv[1],int(sys.argv[2]),sys.argv[3]
text=sys.stdin.read()
try:
    doc=json.loads(text)
except Exception as e:
    doc={"failed":str(e),"text":text[-300:]}
print(json.dumps({"setting":setting,"round":rnd,"what":what,"result":doc}))' "$@" >>"$RESULTS"
}

iperf() {  # host port extra...: iperf3 from A for DURATION, its JSON on stdout
  local host=$1 port=$2
  shift 2
  ip netns exec "$NA" iperf3 -c "$host" -p "$port" -t "$DURATION" --json "$@" 2>/dev/null || true
}

# A stream right after another through the same tunnel (connections through a forward one
# after another): a 1 s stream, then at once the measured one, whose first 1.5 s the table
# reads from the receiving iperf3's intervals. Between the two, iperf3's exchange of results
# and the next test's setup are a few round trips of small messages.
after_another() {  # host port: the second stream's JSON, the server's intervals included
  ip netns exec "$NA" iperf3 -c "$1" -p "$2" -t 1 >/dev/null 2>&1 || true
  ip netns exec "$NA" iperf3 -c "$1" -p "$2" -t 3 --get-server-output --json 2>/dev/null || true
}

blast() {  # udp_blast A -> B through the emulator at full rate: {"rx":..,"tx":..}
  local out=$WORK/blast.out _
  ip netns exec "$NB" "$BLAST" recv --bind 10.98.2.1:5001 --mmsg >"$out" &
  local rx=$!
  PIDS+=("$rx")
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  local tx
  tx=$(ip netns exec "$NA" "$BLAST" send --to 10.98.1.2:5001 --seconds "$DURATION" --size 1400)
  wait "$rx" || true
  printf '{"rx":%s,"tx":%s}' "$(tail -n 1 "$out")" "$tx"
}

pingpong() {  # a UDP ping-pong through the emulator: the path's bare round trip
  ip netns exec "$NB" "$BLAST" pingpong-server --bind 10.98.2.1:5002 >/dev/null &
  local server=$!
  PIDS+=("$server")
  sleep 0.2
  ip netns exec "$NA" "$BLAST" pingpong --to 10.98.1.2:5002 --count 20
  # The client's end marker stops the server, unless the link lost it.
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}

pings() {  # count spacing: e3xctl ping b, one rtt_ms a line
  local _
  for _ in $(seq "$1"); do
    "$E3XCTL" -s "$WORK/a/control.sock" --json ping b 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["rtt_ms"])' 2>/dev/null || true
    sleep "$2"
  done | python3 -c 'import json,sys; print(json.dumps([float(x) for x in sys.stdin.read().split()]))'
}

for round in $(seq "$ROUNDS"); do
  for setting in $SETTINGS; do
    echo "round $round of $ROUNDS, link '$setting': udp_blast, ping-pong, e3xd, wireguard-go (TCP $TCP_CC${CUBIC:+, cubic}), a stream after another, two streams, e3xd beside TCP, ping" >&2
    start_emulator "$setting"
    # Untimed warm-up: new handshakes if the gap while the emulator restarted needed one, and a
    # stream each way so neither tunnel starts cold.
    sleep 1
    ip netns exec "$NA" iperf3 -c 10.98.3.2 -p 5201 -t 1 >/dev/null 2>&1 || true
    ip netns exec "$NA" iperf3 -c 127.0.0.1 -p 5202 -t 1 >/dev/null 2>&1 || true

    measured "$setting" "$round" blast blast
    measured "$setting" "$round" pingpong pingpong
    measured "$setting" "$round" e3xd iperf 127.0.0.1 5202 --get-server-output
    measured "$setting" "$round" wireguard iperf 10.98.3.2 5201 --get-server-output
    if [[ -n $CUBIC ]]; then
      measured "$setting" "$round" wireguard_cubic iperf 10.98.3.2 5201 -C cubic
    fi
    # Steady state: the same streams with their first OMIT seconds run but not counted (both
    # iperf3 ends discard them), so the start each tunnel's sender makes weighs nothing.
    if ((OMIT > 0)) && [[ $setting != none ]]; then
      measured "$setting" "$round" e3xd_steady iperf 127.0.0.1 5202 -O "$OMIT"
      measured "$setting" "$round" wireguard_steady iperf 10.98.3.2 5201 -O "$OMIT"
    fi
    # e3xd's path has been idle for the 10 s above; each tunnel's 1 s stream is its "another".
    if [[ $setting != none ]]; then
      measured "$setting" "$round" e3xd_after after_another 127.0.0.1 5202
      measured "$setting" "$round" wireguard_after after_another 10.98.3.2 5201
    fi
    measured "$setting" "$round" e3xd_two iperf 127.0.0.1 5202 -P 2
    # Sharing the bottleneck with TCP: a stream through e3xd and a loss-based TCP (CUBIC, what
    # most hosts run) through wireguard-go at the same time, through the same emulated link.
    iperf 10.98.3.2 5203 -C "$SHARED_CC" >"$WORK/shared_tcp.json" &
    shared_tcp=$!
    measured "$setting" "$round" e3xd_with_tcp iperf 127.0.0.1 5202
    wait "$shared_tcp" || true
    record "$setting" "$round" tcp_with_e3xd <"$WORK/shared_tcp.json"
    pings "$PINGS" 0.1 | record "$setting" "$round" ping_idle
    # Under load: the pings start once the bulk stream is past slow start, and end before it.
    iperf 127.0.0.1 5202 >"$WORK/bulk.json" &
    bulk=$!
    sleep 1.5
    spacing=$(python3 -c "print(max(0.05, ($DURATION - 2.5) / $PINGS))")
    pings "$PINGS" "$spacing" | record "$setting" "$round" ping_loaded
    wait "$bulk" || true
    record "$setting" "$round" e3xd_bulk <"$WORK/bulk.json"
    stop_emulator "$setting" "$round"
  done
done

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r)"
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$ROOT/bench/emulated_table.py" "$RESULTS" "$DURATION" "$RATE" "$DELAY_MS" "$LOSS" "$TCP_CC" "$CONGESTION" "$OMIT"
if [[ -n ${KEEP_RESULTS:-} ]]; then cp "$RESULTS" "$KEEP_RESULTS"; fi
