# shellcheck shell=bash
# Helpers shared by the FGRPO cluster scripts (serve_judge.sh, submit_ray_job.sh,
# slurm/train_fgrpo.sbatch). Sourced, never executed.
#
# Dry-run contract: with DRY_RUN=1 every external command that would change something
# (srun, ray, vllm, python, curl) is printed on stdout as one line "+ <command>" (" &" appended
# when it would run in the background), quoted so the line can be pasted back into a shell.
# Log lines go to stderr, so stdout of a dry run is exactly the plan.

FG_BG_PIDS=()
FG_SCRIPT=fgrpo

# Name the calling script in log lines.
fg_init() { FG_SCRIPT=$1; }

fg_log() { printf '[%s] %s\n' "$FG_SCRIPT" "$*" >&2; }

fg_die() {
  fg_log "error: $*"
  exit 2
}

fg_dry() { [[ "${DRY_RUN:-0}" == 1 ]]; }

# Print the script's header comment and its settings block (the lines between the
# "# --- settings" and "# --- end settings" markers), so --help and the defaults never drift.
fg_usage() {
  local file=$1
  awk '
    NR == 1 { next }
    /^#SBATCH/ { next }
    !done && /^#/ { sub(/^# ?/, ""); print; next }
    { done = 1 }
  ' "$file"
  printf '\nSettings (environment variables, with their defaults):\n'
  awk '/^# --- settings/ { on = 1; next } /^# --- end settings/ { on = 0 } on { print "  " $0 }' "$file"
}

# Shell-quote a command so the printed line can be pasted back.
fg_quote() {
  local out="" arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
      out+="$arg "
    else
      out+="'${arg//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}

fg_run() {
  if fg_dry; then
    printf '+ %s\n' "$(fg_quote "$@")"
  else
    "$@"
  fi
}

# Start a command in the background; its PID is appended to FG_BG_PIDS.
fg_run_bg() {
  if fg_dry; then
    printf '+ %s &\n' "$(fg_quote "$@")"
  else
    "$@" &
    FG_BG_PIDS+=("$!")
  fi
}

fg_kill_bg() {
  local pid
  for pid in "${FG_BG_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${FG_BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  FG_BG_PIDS=()
}

fg_require_uint() {
  local name=$1 value=$2
  [[ "$value" =~ ^[0-9]+$ ]] || fg_die "$name must be a non-negative integer, got '$value'"
}

fg_require_positive() {
  fg_require_uint "$1" "$2"
  (($2 > 0)) || fg_die "$1 must be > 0, got '$2'"
}

# Split a comma- and/or whitespace-separated list into the array named by $1.
fg_split_list() {
  local -n _out=$1
  local text=${2//,/ }
  read -r -a _out <<<"$text"
}

# A Hydra list literal from a comma/space-separated string: "a.parquet,b.parquet" -> [a.parquet,b.parquet].
fg_hydra_list() {
  local items joined
  fg_split_list items "$1"
  joined=$(IFS=,; printf '%s' "${items[*]}")
  printf '[%s]' "$joined"
}

# Poll URL until it answers 2xx. Fails after TIMEOUT seconds, or at once when the optional
# PID (the server process) has exited, so a crashed server is reported instead of waited on.
fg_wait_http() {
  local url=$1 timeout=$2 interval=$3 pid=${4:-}
  local start=$SECONDS
  if fg_dry; then
    fg_run curl -fsS -o /dev/null --max-time 5 "$url"
    return 0
  fi
  until curl -fsS -o /dev/null --max-time 5 "$url" 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      fg_log "the process behind $url (pid $pid) exited before it became healthy"
      return 1
    fi
    if ((SECONDS - start >= timeout)); then
      fg_log "$url did not become healthy within ${timeout}s"
      return 1
    fi
    sleep "$interval"
  done
}
