# shellcheck shell=bash
# Shared by the namespace benchmarks (bench/run-streams.sh, bench/run-emulated.sh): the tools
# they need, namespaces joined by veth pairs, an e3xd pair and a wireguard-go pair. Sourced,
# from the checkout's root, by a bash script running `set -euo pipefail` as root.
#
# netns_init PREFIX sets WORK (a fresh temp directory), PIDS (processes to stop) and NETNS
# (namespaces to delete), and removes all three on exit.

# netns_prepare SCRIPT_NAME BUILD_DIR TARGET...: root and the tools, then builds the targets;
# sets E3XD and E3XCTL.
netns_prepare() {
  local name=$1 build=$2
  shift 2
  if [[ $(id -u) -ne 0 ]]; then
    echo "$name: needs root (network namespaces, wireguard-go)" >&2
    exit 1
  fi
  local missing=()
  command -v wireguard-go >/dev/null || missing+=(wireguard-go)
  command -v wg >/dev/null || missing+=(wireguard-tools)
  command -v iperf3 >/dev/null || missing+=(iperf3)
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  fi
  [[ -c /dev/net/tun ]] || { echo "$name: /dev/net/tun is missing" >&2; exit 1; }
  if [[ ! -x $build/daemon/e3xd ]]; then bash scripts/install-deps.sh; fi
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j 2 --target "$@" >/dev/null
  E3XD=$(pwd)/$build/daemon/e3xd
  E3XCTL=$(pwd)/$build/daemon/e3xctl
}

netns_cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}

netns_init() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  NETNS=()
  trap netns_cleanup EXIT
}

# netns_add NAME...: new namespaces with loopback up.
netns_add() {
  local ns
  for ns in "$@"; do
    ip netns add "$ns"
    NETNS+=("$ns")
    ip -n "$ns" link set lo up
  done
}

# netns_veth NS1 DEV1 ADDR1/LEN NS2 DEV2 ADDR2/LEN: a veth pair between two namespaces.
netns_veth() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

# ---- e3xd pair: identities and configs in $WORK/<side>/ ----

e3xd_keygen() {  # side...
  local side
  for side in "$@"; do
    mkdir -p "$WORK/$side"
    "$E3XCTL" keygen --out "$WORK/$side/identity.json" >/dev/null
  done
}

e3xd_key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["3a"])' "$1"; }

# e3xd_config SIDE LISTEN_IP OTHER OTHER_ENDPOINT_IP [EXTRA_TOML]: UDP on port 42424, the other
# side as the one peer, reached at OTHER_ENDPOINT_IP:42424.
e3xd_config() {
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
key = "$(e3xd_key_of "$WORK/$3/identity.json")"
endpoints = ["udp://$4:42424"]
${5:-}
TOML
}

e3xd_start() {  # ns side
  ip netns exec "$1" "$E3XD" --config "$WORK/$2/e3xd.toml" >"$WORK/$2/log" 2>&1 &
  PIDS+=($!)
}

# e3xd_wait_up SIDE PEER: until SIDE's daemon reports PEER up (20 s at most).
e3xd_wait_up() {
  local state='' _
  for _ in $(seq 200); do
    state=$("$E3XCTL" -s "$WORK/$1/control.sock" --json peer "$2" 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || true)
    [[ $state == up ]] && return 0
    sleep 0.1
  done
  echo "e3xd pair did not come up" >&2
  cat "$WORK"/*/log >&2
  exit 1
}

# ---- wireguard-go pair (userspace, TUN) ----

wg_keygen() {  # side...
  local side
  for side in "$@"; do
    mkdir -p "$WORK/$side"
    (umask 077 && wg genkey >"$WORK/$side/wg.key")
    wg pubkey <"$WORK/$side/wg.key" >"$WORK/$side/wg.pub"
  done
}

# wg_start NS SIDE DEV TUNNEL_IP/LEN OTHER OTHER_ENDPOINT ALLOWED_IPS MTU
# Each side needs its own DEV: wireguard-go's control socket (/var/run/wireguard/DEV.sock) is
# in the file system, which the namespaces share. Listens on port 51820.
wg_start() {
  local ns=$1 side=$2 dev=$3 _
  ip netns exec "$ns" wireguard-go -f "$dev" >"$WORK/$side/wg.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do [[ -S /var/run/wireguard/$dev.sock ]] && break; sleep 0.05; done
  ip netns exec "$ns" wg set "$dev" private-key "$WORK/$side/wg.key" listen-port 51820 \
    peer "$(cat "$WORK/$5/wg.pub")" allowed-ips "$7" endpoint "$6"
  ip -n "$ns" addr add "$4" dev "$dev"
  ip -n "$ns" link set "$dev" mtu "$8" up
}
