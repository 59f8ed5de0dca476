#!/usr/bin/env bash
# The bash completion of e3xctl (completions/e3xctl.bash), exercised the way bash calls it:
# COMP_WORDS and COMP_CWORD set, the function called, COMPREPLY read back.
#   scripts/check-completion.sh BIN_DIR      (BIN_DIR holds the e3xd and e3xctl to use)
# Checks: `e3xctl ` offers every subcommand that `e3xctl --help` lists; `e3xctl inbox ` offers
# read, ack and import; options of a command; file names after --file; nothing, silently and
# at once, for a peer when no daemon runs; the peer names of a running e3xd.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cd "$1" && pwd)
export PATH="$bin:$PATH"
completion=$PWD/completions/e3xctl.bash
work=$(mktemp -d /tmp/e3xctl-completion.XXXXXX)
daemon_pid=
cleanup() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
failed=0

# complete LINE: what completing at the end of LINE offers, one word per line. Runs in a fresh
# bash that only sourced the completion. Anything the completion prints to stderr is kept in
# $work/stderr.
complete_line() {
  bash --norc --noprofile -c '
    source "$1"
    read -ra COMP_WORDS <<<"$2"
    [[ $2 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$2
    COMP_POINT=${#2}
    _e3xctl "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$completion" "$1" 2>"$work/stderr"
}

# expect LINE WORD...: completing LINE offers every WORD.
expect() {
  local line=$1 offered word
  shift
  offered=$(complete_line "$line")
  for word in "$@"; do
    if ! grep -qxF -- "$word" <<<"$offered"; then
      echo "check-completion: '$line<TAB>' does not offer '$word'; it offers: $(echo $offered)" >&2
      failed=1
    fi
  done
  if [ -s "$work/stderr" ]; then
    echo "check-completion: '$line<TAB>' printed to stderr: $(cat "$work/stderr")" >&2
    failed=1
  fi
}

# expect_nothing LINE: completing LINE offers nothing and prints nothing.
expect_nothing() {
  local offered
  offered=$(complete_line "$1")
  if [ -n "$offered" ] || [ -s "$work/stderr" ]; then
    echo "check-completion: '$1<TAB>' should offer nothing; it offers: $(echo $offered)" \
      "$(cat "$work/stderr")" >&2
    failed=1
  fi
}

# The subcommands, as e3xctl's help lists them (read here independently of the completion).
mapfile -t subcommands < <(e3xctl --help | awk '/^Subcommands:/ {on = 1; next} /^[^ ]/ {on = 0}
  on && /^  [a-z]/ {print $1}')
[ ${#subcommands[@]} -ge 10 ] || { echo "check-completion: e3xctl --help lists too few subcommands" >&2; exit 1; }
expect "e3xctl " "${subcommands[@]}"
expect "e3xctl inbox " read ack import
expect "e3xctl outbox " cancel
expect "e3xctl outbox --" --all --socket --json
expect "e3xctl in" inbox
expect "e3xctl me" metrics
expect "e3xctl ma" mailbox
expect "e3xctl mailbox --" --socket --json
expect "e3xctl --" --socket --json --version --help
expect "e3xctl send --" --text --file --stdin --type --id --socket --json
expect "e3xctl speedtest bob --s" --seconds --size --socket
expect "e3xctl inbox read 3f2a --" --from
expect "e3xctl inbox ack 3f2a --" --all --from
expect "e3xctl peers --" --short --socket --json
touch "$work/payload.bin"
expect "e3xctl send bob --file $work/pay" "$work/payload.bin"
expect "e3xctl inbox import $work/pay" "$work/payload.bin"

# No daemon: nothing for a peer, quietly, and at once.
start=$(date +%s)
expect_nothing "e3xctl -s $work/none.sock ping "
expect_nothing "e3xctl --socket=$work/none.sock peer "
[ $(($(date +%s) - start)) -le 5 ] || { echo "check-completion: completion without a daemon is slow" >&2; failed=1; }

# A running e3xd with two peers: their names are offered where a peer is expected.
e3xctl keygen --out "$work/bob.json" >/dev/null
e3xctl keygen --out "$work/carol.json" >/dev/null
key() { sed -E 's/.*"3a" *: *"([a-z2-7]+)".*/\1/' "$1"; }
cat >"$work/e3xd.toml" <<TOML
state_dir = "$work/state"
control_socket = "$work/control.sock"
[udp]
listen = ["127.0.0.1:0"]
[[peer]]
name = "bob"
key = "$(key "$work/bob.json")"
[[peer]]
name = "carol-2"
key = "$(key "$work/carol.json")"
TOML
e3xd --config "$work/e3xd.toml" 2>"$work/e3xd.log" &
daemon_pid=$!
for _ in $(seq 1 100); do
  e3xctl -s "$work/control.sock" status >/dev/null 2>&1 && break
  sleep 0.1
done
e3xctl -s "$work/control.sock" status >/dev/null || { cat "$work/e3xd.log" >&2; exit 1; }
expect "e3xctl -s $work/control.sock ping " bob carol-2
expect "e3xctl --socket $work/control.sock send c" carol-2
expect "e3xctl --socket=$work/control.sock speedtest " bob carol-2
E3XCTL_SOCKET=$work/control.sock expect "e3xctl peer b" bob
expect_nothing "e3xctl -s $work/control.sock ping bob "

[ $failed -eq 0 ] && echo "check-completion: bash completion offers commands, options, files and peers"
exit $failed
