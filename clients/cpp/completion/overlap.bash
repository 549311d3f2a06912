# bash completion for overlap, the command-line client of overlapd.
# Installed by `cmake --install` as share/bash-completion/completions/overlap.
# Completes commands, flags and local paths; remote paths are not completed
# (that would need a server round trip per <TAB>).

_overlap() {
  local cur prev words cword
  _init_completion || return

  local global="--server --cluster --json --progress --quiet -q --retries --tls-ca --tls-cert --tls-key --token-file --version --help"
  local commands="put get sync cat stat ls du read caps cp mv rm mkdir backup submit jobs job cancel watch bench nodes"

  case "$prev" in
    --tls-ca|--tls-cert|--tls-key|--token-file)
      _filedir
      return ;;
    --server|--cluster|--retries)
      return ;;
  esac

  # The command is the first word that is not a flag or a flag's value.
  local i command=""
  for ((i = 1; i < cword; i++)); do
    case "${words[i]}" in
      --server|--cluster|--retries|--tls-ca|--tls-cert|--tls-key|--token-file) ((i++)) ;;
      -*) ;;
      *) command="${words[i]}"; break ;;
    esac
  done

  if [[ -z "$command" ]]; then
    COMPREPLY=($(compgen -W "$commands $global" -- "$cur"))
    return
  fi

  local flags=""
  case "$command" in
    put)    flags="--durable --atomic --in-place --resume -r --recursive" ;;
    get)    flags="--resume --durable -r --recursive" ;;
    sync)   flags="--dry-run -n --delete" ;;
    ls)     flags="-l --long -R --recursive" ;;
    du)     flags="-H --human-readable" ;;
    read)   flags="--offset --length" ;;
    cp)     flags="--durable" ;;
    mv)     flags="-n --no-clobber" ;;
    rm)     flags="-r --recursive -d --dir -f --force" ;;
    mkdir)  flags="-p --parents" ;;
    backup) flags="--durable --wait --timeout --label" ;;
    submit) flags="--wait --timeout" ;;
    jobs)   flags="--limit" ;;
    cancel) flags="--wait --timeout" ;;
    watch)  flags="--job --prefix --type --from-seq --count --session-events" ;;
    bench)  flags="read write" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags $global" -- "$cur"))
  elif [[ "$command" == bench ]]; then
    COMPREPLY=($(compgen -W "read write" -- "$cur"))
  else
    # Local paths for the commands that take them; harmless elsewhere.
    _filedir
  fi
}
complete -F _overlap overlap
