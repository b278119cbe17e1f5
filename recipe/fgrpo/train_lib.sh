# shellcheck shell=bash
# Shared by the one-node FGRPO launchers (run_qwen2_5_vl_3b.sh, run_qwen2_5_vl_7b.sh,
# smoke_gpu.sh). Sourced, never executed. Builds on cluster_lib.sh (logging, --help, dry runs:
# with DRY_RUN=1 each command is printed as one "+ <command>" line on stdout instead of run).

_TRAIN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$_TRAIN_LIB_DIR/cluster_lib.sh"

# Parse "[--dry-run] [--help] [--] [HYDRA_OVERRIDE ...]" of the script $1; sets DRY_RUN and OVERRIDES.
fgrpo_parse_args() {
  local script=$1
  shift
  OVERRIDES=()
  while (($#)); do
    case $1 in
      -h | --help) fg_usage "$script"; exit 0 ;;
      --dry-run) DRY_RUN=1 ;;
      --) shift; OVERRIDES+=("$@"); break ;;
      -*) fg_die "unknown option '$1' (see --help)" ;;
      *) OVERRIDES+=("$1") ;;
    esac
    shift
  done
}

# The main_ppo command of a one-node FGRPO run from the settings variables, into the array TRAIN_CMD.
fgrpo_train_command() {
  fg_require_positive GPUS_PER_NODE "$GPUS_PER_NODE"
  fg_require_positive ROLLOUT_TP "$ROLLOUT_TP"
  TRAIN_CMD=(
    "$PYTHON" -m verl.trainer.main_ppo "+recipe=$RECIPE"
    "data.train_files=$(fg_hydra_list "$TRAIN_FILES")"
    "data.val_files=$(fg_hydra_list "$VAL_FILES")"
    "actor_rollout_ref.model.path=$MODEL"
    "actor_rollout_ref.rollout.tensor_model_parallel_size=$ROLLOUT_TP"
    "actor_rollout_ref.rollout.gpu_memory_utilization=$GPU_MEM_UTIL"
    "trainer.nnodes=1"
    "trainer.n_gpus_per_node=$GPUS_PER_NODE"
    "trainer.experiment_name=$EXPERIMENT"
    "trainer.default_local_dir=$CKPT_DIR"
    "trainer.logger=$(fg_hydra_list "$LOGGER")"
  )
  if [[ -n "$JUDGE_URLS" ]]; then TRAIN_CMD+=("fgrpo.judge.urls=$(fg_hydra_list "$JUDGE_URLS")"); fi
  if [[ -n "$JUDGE_MODEL" ]]; then TRAIN_CMD+=("fgrpo.judge.model=$JUDGE_MODEL"); fi
}

# Entry point of run_qwen2_5_vl_*.sh: parse the arguments, then print or run the training command.
fgrpo_train() {
  fgrpo_parse_args "${BASH_SOURCE[1]}" "$@"
  fgrpo_train_command
  if [[ -z "$JUDGE_URLS" ]]; then
    fg_log "JUDGE_URLS is empty: unless the recipe or an override names a judge (fgrpo.judge.backend=rule|router)," \
      "start-up refuses a mode that needs one"
  fi
  fg_run "${TRAIN_CMD[@]}" "${OVERRIDES[@]}"
}
