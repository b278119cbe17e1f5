#!/usr/bin/env bash
# Submit FGRPO training to an existing Ray cluster with `ray job submit`.
#
# Usage:
#   recipe/fgrpo/submit_ray_job.sh [--dry-run] [HYDRA_OVERRIDE ...]
#   recipe/fgrpo/submit_ray_job.sh --help
#
# Example:
#   RAY_ADDRESS=http://head:8265 MODEL=Qwen/Qwen2.5-VL-7B-Instruct NNODES=2 \
#   TRAIN_FILES=/data/fgrpo/train.parquet VAL_FILES=/data/fgrpo/val.parquet \
#   JUDGE_URLS=http://judge0:8000/v1,http://judge1:8000/v1 \
#   recipe/fgrpo/submit_ray_job.sh trainer.total_epochs=2
#
# The job runs `python -m verl.trainer.main_ppo +recipe=fgrpo ...` on the cluster. The recipe
# travels in the job's runtime environment: the repository as working_dir (CARRY=working_dir,
# the default), or its packages as py_modules (CARRY=py_modules); either way the FGRPO plugin
# is imported in every verl process through VERL_USE_EXTERNAL_MODULES, so the cluster needs verl
# but not this package. Data paths must be readable from the cluster nodes.
#
# Secrets: only variable NAMES are configured here (JUDGE_API_KEY_ENV, FORWARD_ENV). Values
# that are set in this shell are forwarded as runtime-env env_vars through a private (0600)
# temporary file passed with --runtime-env, so they never appear on a command line; without
# secrets the runtime env goes inline with --runtime-env-json. Printed values are masked.
#
# Dry run (DRY_RUN=1 or --dry-run): print "# runtime_env: <JSON, secrets masked>" and the
# ray command instead of running it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$SCRIPT_DIR/cluster_lib.sh"
fg_init submit_ray_job

# --- settings
RAY_ADDRESS=${RAY_ADDRESS:-http://127.0.0.1:8265}     # Ray job server (dashboard) address
MODEL=${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}           # policy: HF id or path visible to the cluster
TRAIN_FILES=${TRAIN_FILES:-$HOME/data/fgrpo/train.parquet}  # training parquet file(s) on the cluster, comma-separated
VAL_FILES=${VAL_FILES:-$HOME/data/fgrpo/val.parquet}  # validation parquet file(s) on the cluster, comma-separated
NNODES=${NNODES:-1}                                   # trainer.nnodes
GPUS_PER_NODE=${GPUS_PER_NODE:-8}                     # trainer.n_gpus_per_node
JUDGE_URLS=${JUDGE_URLS:-}                            # judge base URLs, comma-separated; empty: recipe default
JUDGE_MODEL=${JUDGE_MODEL:-}                          # fgrpo.judge.model; empty: recipe default
JUDGE_API_KEY_ENV=${JUDGE_API_KEY_ENV:-FGRPO_JUDGE_API_KEY}  # NAME of the variable holding the judge key
FORWARD_ENV=${FORWARD_ENV:-}                          # more secret variable NAMES to forward, e.g. "WANDB_API_KEY HF_TOKEN"
CARRY=${CARRY:-working_dir}                           # how the recipe travels: working_dir or py_modules
WORKING_DIR=${WORKING_DIR:-$(cd "$SCRIPT_DIR/../.." && pwd)}  # repository root uploaded to the cluster
EXCLUDES=${EXCLUDES:-.git,.venv,__pycache__,.pytest_cache,.ruff_cache,/data,/outputs,/checkpoints,/wandb,*.parquet,*.safetensors}  # not uploaded (gitignore syntax)
PY_MODULES=${PY_MODULES:-fgrpo_verl,reward_fns,data_prep,recipe,hydra_plugins}  # CARRY=py_modules: folders of WORKING_DIR
RECIPE_MODULES=${RECIPE_MODULES-fgrpo_verl.plugin}   # imported by verl in every process (VERL_USE_EXTERNAL_MODULES); empty: none
RECIPE=${RECIPE:-fgrpo}                               # recipe config: fgrpo, or a variant such as fgrpo_grpo_t
SUBMISSION_ID=${SUBMISSION_ID:-}                      # job id; empty: Ray picks one
NO_WAIT=${NO_WAIT:-0}                                 # 1: return after submission instead of following the logs
ENTRY_PYTHON=${ENTRY_PYTHON:-python3}                 # interpreter on the cluster
PYTHON=${PYTHON:-python3}                             # local interpreter that writes the runtime env JSON
RAY_BIN=${RAY_BIN:-ray}                               # local ray CLI
EXTRA_ARGS=${EXTRA_ARGS:-}                            # more Hydra overrides, whitespace-separated (or pass them as arguments)
DRY_RUN=${DRY_RUN:-0}                                 # 1: print commands instead of running them
# --- end settings

overrides=()
while (($#)); do
  case $1 in
    -h | --help) fg_usage "${BASH_SOURCE[0]}"; exit 0 ;;
    --dry-run) DRY_RUN=1 ;;
    --) shift; overrides+=("$@"); break ;;
    -*) fg_die "unknown option '$1' (see --help)" ;;
    *) overrides+=("$1") ;;
  esac
  shift
done

fg_require_positive NNODES "$NNODES"
[[ $RECIPE =~ ^[A-Za-z0-9_]+$ ]] || fg_die "RECIPE must be a recipe config name such as fgrpo, got '$RECIPE'"
fg_require_positive GPUS_PER_NODE "$GPUS_PER_NODE"
[[ $CARRY == working_dir || $CARRY == py_modules ]] || fg_die "CARRY must be working_dir or py_modules, got '$CARRY'"
[[ -d "$WORKING_DIR" ]] || fg_die "WORKING_DIR=$WORKING_DIR is not a directory"

secret_names=()
fg_split_list secret_names "$JUDGE_API_KEY_ENV $FORWARD_ENV"
# verl's own ray.init() always sets these in the job's runtime env; Ray refuses to merge two
# runtime envs that define the same variable, so the job would die at start-up.
verl_owned=" VERL_FULL_DETERMINISM VLLM_BATCH_INVARIANT VERL_RL_INSIGHT_ENABLE PYTHONHASHSEED CUBLAS_WORKSPACE_CONFIG FLASH_ATTENTION_DETERMINISTIC NCCL_DETERMINISTIC NCCL_ALGO "
for name in "${secret_names[@]}"; do
  [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fg_die "not a variable name in JUDGE_API_KEY_ENV/FORWARD_ENV: '$name'"
  [[ $verl_owned != *" $name "* ]] || fg_die "$name is set by verl itself in the job's runtime env; do not forward it"
done

env_file=""
cleanup() { if [[ -n "$env_file" ]]; then rm -f "$env_file"; fi; }
trap cleanup EXIT

forwarded=()
for name in "${secret_names[@]}"; do
  if [[ -n "${!name:-}" ]]; then forwarded+=("$name"); fi
done
if ((${#forwarded[@]})) && ! fg_dry; then
  env_file=$(mktemp "${TMPDIR:-/tmp}/fgrpo-runtime-env.XXXXXX")
fi

# Build the runtime env in Python (correct JSON quoting). Secret values are read from this
# process's environment by name: they are written only to the 0600 file, never to stdout.
runtime_json=$(
  "$PYTHON" - "$CARRY" "$WORKING_DIR" "$EXCLUDES" "$PY_MODULES" "$RECIPE_MODULES" "$env_file" "${forwarded[@]}" <<'PY'
import json
import os
import re
import sys

carry, working_dir, excludes, py_modules, recipe_modules, env_file, *secrets = sys.argv[1:]


def split(text):
    return [item for item in re.split(r"[,\s]+", text) if item]


env = {"VERL_USE_EXTERNAL_MODULES": ",".join(split(recipe_modules)), "PYTHONUNBUFFERED": "1"}
runtime_env = {"excludes": split(excludes)}
if carry == "working_dir":
    runtime_env["working_dir"] = working_dir
else:
    modules = [os.path.join(working_dir, name) for name in split(py_modules)]
    missing = [path for path in modules if not os.path.isdir(path)]
    if missing:
        sys.exit(f"PY_MODULES: not a folder: {', '.join(missing)}")
    runtime_env["py_modules"] = modules
runtime_env["env_vars"] = env

masked = dict(runtime_env, env_vars={**env, **dict.fromkeys(secrets, "***")})
if env_file:
    real = dict(runtime_env, env_vars={**env, **{name: os.environ[name] for name in secrets}})
    fd = os.open(env_file, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(real, handle)
print(json.dumps(masked))
PY
)

cmd=("$RAY_BIN" job submit --address "$RAY_ADDRESS")
if [[ -n "$SUBMISSION_ID" ]]; then cmd+=(--submission-id "$SUBMISSION_ID"); fi
if [[ "$NO_WAIT" == 1 ]]; then cmd+=(--no-wait); fi
if ((${#forwarded[@]})); then
  cmd+=(--runtime-env "${env_file:-${TMPDIR:-/tmp}/fgrpo-runtime-env.XXXXXX}")
  fg_log "forwarding ${forwarded[*]} to the job (values masked, passed in a private file)"
else
  cmd+=(--runtime-env-json "$runtime_json")
fi

extra=()
fg_split_list extra "$EXTRA_ARGS"
cmd+=(
  -- "$ENTRY_PYTHON" -m verl.trainer.main_ppo "+recipe=$RECIPE"
  "actor_rollout_ref.model.path=$MODEL"
  "data.train_files=$(fg_hydra_list "$TRAIN_FILES")"
  "data.val_files=$(fg_hydra_list "$VAL_FILES")"
  "trainer.nnodes=$NNODES"
  "trainer.n_gpus_per_node=$GPUS_PER_NODE"
  "fgrpo.judge.api_key_env=$JUDGE_API_KEY_ENV"
)
if [[ -n "$JUDGE_URLS" ]]; then cmd+=("fgrpo.judge.urls=$(fg_hydra_list "$JUDGE_URLS")"); fi
if [[ -n "$JUDGE_MODEL" ]]; then cmd+=("fgrpo.judge.model=$JUDGE_MODEL"); fi
cmd+=("${extra[@]}" "${overrides[@]}")

if fg_dry; then printf '# runtime_env: %s\n' "$runtime_json"; fi
fg_run "${cmd[@]}"
