#!/usr/bin/env bash
# Two e3xd daemons on loopback, driven with e3xctl (see scripts/demo.sh).
#   scripts/demo-run.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
e3xd=$bin/e3xd
e3xctl=$bin/e3xctl
work=$(mktemp -d /tmp/e3xd-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Two free loopback ports (UDP), chosen by the kernel.
read -r port_a port_b < <(python3 -c '
import socket
ports = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
    ports.append(s.getsockname()[1]); s.close()
print(*ports)')

say "fresh identities"
for name in alice bob; do
  mkdir -p "$work/$name"
  echo "$name:"
  "$e3xctl" keygen --out "$work/$name/identity.json" | sed 's/^/  /'
done
key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["3a"])' "$1"; }
key_alice=$(key "$work/alice/identity.json")
key_bob=$(key "$work/bob/identity.json")

write_config() {  # name port peer_name peer_key peer_port [extra TOML]
  cat >"$work/$1/e3xd.toml" <<TOML
identity = "$work/$1/identity.json"
state_dir = "$work/$1"
control_socket = "$work/$1/control.sock"
log_level = "info"

[udp]
listen = ["127.0.0.1:$2"]

[[peer]]
name = "$3"
key = "$4"
endpoints = ["udp://127.0.0.1:$5"]
${6:-}
TOML
}
# Bob offers alice a small service: a Unix socket answered by a one-line server started below.
service_socket="$work/bob/hello.sock"
write_config alice "$port_a" bob "$key_bob" "$port_b"
write_config bob "$port_b" alice "$key_alice" "$port_a" "
[[service]]
name = \"hello\"
target = \"unix:$service_socket\"
allow = [\"alice\"]"

say "starting e3xd for alice (udp 127.0.0.1:$port_a) and bob (udp 127.0.0.1:$port_b)"
for name in alice bob; do
  "$e3xd" --config "$work/$name/e3xd.toml" 2>&1 | sed -u "s/^/[$name] /" &
  pids+=($!)
done
ctl() { local who=$1; shift; "$e3xctl" -s "$work/$who/control.sock" "$@"; }

say "waiting for the handshake"
for _ in $(seq 1 100); do
  if ctl alice --json peer bob 2>/dev/null | grep -q '"state":"up"' &&
    ctl bob --json peer alice 2>/dev/null | grep -q '"state":"up"'; then
    break
  fi
  sleep 0.1
done
ctl alice --json peer bob | grep -q '"state":"up"' || { echo "no handshake" >&2; exit 1; }
echo "alice and bob are in sync"

# Bob's event stream (e3xctl watch), shown as it happens.
ctl bob watch 2>/dev/null | sed -u 's/^/[bob watch] /' &
pids+=($!)
sleep 0.3  # let the watcher subscribe before the message goes out

say "alice sends bob a message (stored in alice's outbox until bob's receipt)"
ctl alice send bob --id demo-1 --text "hello bob, this is alice over E3X"
for _ in $(seq 1 50); do
  ctl alice outbox | grep -q "outbox empty" && break
  sleep 0.1
done
ctl alice outbox | grep -q "outbox empty" || { echo "the message was not delivered" >&2; exit 1; }
echo "delivered: alice's outbox is empty"
say "bob's inbox, the message itself, and its acknowledgement"
ctl bob inbox
ctl bob inbox read demo-1
echo
ctl bob inbox ack demo-1

say "channel data: each asks the other, over the built-in \"path\" channel, where it sees them"
ctl alice ping bob
ctl bob ping alice

say "a stream: alice reaches bob's \"hello\" service (a Unix socket on bob's side) with e3xctl connect"
python3 - "$service_socket" <<'PY' &
import os, socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(1)
connection, _ = server.accept()
request = b""
while chunk := connection.recv(4096):
    request += chunk
connection.sendall(b"bob's service got " + str(len(request)).encode() + b" bytes: " + request)
connection.close()
PY
pids+=($!)
for _ in $(seq 1 50); do [ -S "$service_socket" ] && break; sleep 0.1; done
answer=$(printf 'hi from alice' | ctl alice connect bob hello)
echo "$answer"
[ "$answer" = "bob's service got 13 bytes: hi from alice" ] || { echo "the stream failed" >&2; exit 1; }
ctl bob services

say "e3xctl status (alice)"
ctl alice status
say "e3xctl peers (alice)"
ctl alice peers
say "e3xctl peers (bob)"
ctl bob peers

say "stopping both daemons (SIGTERM)"
for name in alice bob; do pkill -TERM -f "e3xd --config $work/$name/e3xd.toml" || true; done
for _ in $(seq 1 50); do
  pgrep -f "e3xd --config $work/" >/dev/null || break
  sleep 0.1
done
if pgrep -f "e3xd --config $work/" >/dev/null; then
  echo "a daemon did not stop" >&2
  exit 1
fi
say "demo finished"
