# bash completion for e3xctl(1), installed as /usr/share/bash-completion/completions/e3xctl.
#
# Commands and options are read from e3xctl's own --help (`e3xctl --help`, `e3xctl inbox
# --help`, ...), so the completion follows the program; peer names come from the running
# daemon (`e3xctl --json peers`), and nothing is offered, quietly, when none runs.
# Plain bash (COMP_WORDS, COMP_CWORD, compgen): it does not need the bash-completion package.

# _e3xctl_subcommands HELP: the subcommands a --help text lists.
_e3xctl_subcommands() {
  local line in_list=0
  while IFS= read -r line; do
    case $line in
      Subcommands:*) in_list=1 ;;
      [![:space:]]*) in_list=0 ;;
      *) if ((in_list)) && [[ $line =~ ^\ \ ([a-z][-a-z0-9_]*)\  ]]; then
           printf '%s\n' "${BASH_REMATCH[1]}"
         fi ;;
    esac
  done <<<"$1"
}

# _e3xctl_options HELP [values]: the options a --help text lists; with "values", only those
# that take a value (their line names one, as in "--file TEXT").
_e3xctl_options() {
  local line spec rest option
  while IFS= read -r line; do
    [[ $line =~ ^\ +(-[-a-zA-Z0-9]+(,-[-a-zA-Z0-9]+)*)(.*)$ ]] || continue
    spec=${BASH_REMATCH[1]} rest=${BASH_REMATCH[3]}
    if [[ ${2:-} == values && ! $rest =~ ^\ [A-Z] ]]; then continue; fi
    for option in ${spec//,/ }; do printf '%s\n' "$option"; done
  done <<<"$1"
}

# _e3xctl_positional HELP: the name of the command's first positional argument, if any
# ("PEER", "NAME", "ID", "FILE"), and "peer" when its description is "peer name ...".
_e3xctl_positional() {
  local line in_list=0
  while IFS= read -r line; do
    case $line in
      Positionals:*) in_list=1 ;;
      [![:space:]]*) in_list=0 ;;
      *) if ((in_list)) && [[ $line =~ ^\ \ ([A-Z][A-Z0-9_]*)\ (.*)$ ]]; then
           if [[ ${BASH_REMATCH[2]} == *"peer name"* ]]; then echo peer; else echo "${BASH_REMATCH[1]}"; fi
           return
         fi ;;
    esac
  done <<<"$1"
}

# _e3xctl_peers E3XCTL [SOCKET OPTION...]: the names of the running daemon's peers (the
# hashname of a peer that has no name); nothing, quietly, when no daemon answers.
_e3xctl_peers() {
  local e3xctl=$1 json
  shift
  if type timeout >/dev/null 2>&1; then
    json=$(timeout 3 "$e3xctl" "$@" --json peers 2>/dev/null) || return 0
  else
    json=$("$e3xctl" "$@" --json peers 2>/dev/null) || return 0
  fi
  [[ $json =~ \"name\" ]] || return 0
  # One peer object per {...}; names are [A-Za-z0-9_-], hashnames base32.
  printf '%s\n' "$json" | grep -oE '"name":("[A-Za-z0-9_-]+"|null),"hashname":"[a-z2-7]+"' |
    sed -E 's/^"name":"([^"]+)".*/\1/; s/^"name":null,"hashname":"([^"]+)"$/\1/'
}

_e3xctl() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  local e3xctl=${COMP_WORDS[0]}
  COMPREPLY=()

  local top help
  top=$("$e3xctl" --help 2>/dev/null) || return 0
  help=$top
  local -a path=() socket=()
  local positionals=0 i word
  # Walk the words before the cursor: the command path (inbox, read), the socket option (for
  # peer names), positional arguments, and options with their values.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      -s | --socket)
        ((i + 1 < COMP_CWORD)) && socket=(--socket "${COMP_WORDS[i + 1]}")
        ((i++))
        continue
        ;;
      --socket=*)
        socket=("$word")
        continue
        ;;
      --*=*) continue ;;
      -*)
        if _e3xctl_options "$help" values | grep -qxF -- "$word" ||
          _e3xctl_options "$top" values | grep -qxF -- "$word"; then
          ((i++))
        fi
        continue
        ;;
    esac
    if _e3xctl_subcommands "$help" | grep -qxF -- "$word"; then
      path+=("$word")
      positionals=0
      help=$("$e3xctl" "${path[@]}" --help 2>/dev/null) || return 0
    else
      ((++positionals))
    fi
  done

  # The value of an option.
  case $prev in
    -s | --socket | --file | --in | --out | --identity)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0
      ;;
    -*)
      if _e3xctl_options "$help" values | grep -qxF -- "$prev"; then return 0; fi
      ;;
  esac

  if [[ $cur == -* ]]; then
    local options
    options=$(_e3xctl_options "$help")
    # Global options may follow a command.
    ((${#path[@]} > 0)) &&
      options+=$'\n'$(_e3xctl_options "$top" | grep -vxE -- '-h|--help|--version')
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
    return 0
  fi

  local words
  words=$(_e3xctl_subcommands "$help")
  if ((${#path[@]} > 0 && positionals == 0)); then
    case $(_e3xctl_positional "$help") in
      peer) words+=$'\n'$(_e3xctl_peers "$e3xctl" "${socket[@]}") ;;
      FILE)
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "$cur"))
        ;;
    esac
  fi
  COMPREPLY+=($(compgen -W "$words" -- "$cur"))
  return 0
}

complete -F _e3xctl e3xctl
