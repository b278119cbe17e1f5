#!/usr/bin/env bash
# FGRPO on Qwen2.5-VL-3B-Instruct: one node, 8 GPUs (FSDP training, vLLM rollout).
#
# Usage:
#   recipe/fgrpo/run_qwen2_5_vl_3b.sh [--dry-run] [HYDRA_OVERRIDE ...]
#   recipe/fgrpo/run_qwen2_5_vl_3b.sh --help
#
# Example:
#   TRAIN_FILES=$HOME/data/fgrpo/train.parquet VAL_FILES=$HOME/data/fgrpo/val.parquet \
#   JUDGE_URLS=http://judge0:8000/v1 recipe/fgrpo/run_qwen2_5_vl_3b.sh trainer.total_epochs=2
#
# Runs `python -m verl.trainer.main_ppo +recipe=$RECIPE ...`: the paper's setting from
# recipe/fgrpo/config/recipe/fgrpo.yaml, the settings below, then your overrides (last wins).
# Ablations: RECIPE=fgrpo_grpo_t (or fgrpo_fixed_lambda, fgrpo_additive, ...).
# Without JUDGE_URLS, training that needs a judge is refused at start-up: start an
# OpenAI-compatible judge first (recipe/fgrpo/serve_judge.sh), use RECIPE=fgrpo_served_judge, or
# pass fgrpo.judge.backend=rule to train with the offline rule judge on purpose (synthetic data only).
#
# Dry run (DRY_RUN=1 or --dry-run): print the command instead of running it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$SCRIPT_DIR/train_lib.sh"
fg_init run_qwen2_5_vl_3b

# --- settings
MODEL=${MODEL:-Qwen/Qwen2.5-VL-3B-Instruct}          # policy: HF id or local path
TRAIN_FILES=${TRAIN_FILES:-$HOME/data/fgrpo/train.parquet}  # training parquet file(s), comma-separated
VAL_FILES=${VAL_FILES:-$HOME/data/fgrpo/val.parquet}  # validation parquet file(s), comma-separated
GPUS_PER_NODE=${GPUS_PER_NODE:-8}                     # trainer.n_gpus_per_node
ROLLOUT_TP=${ROLLOUT_TP:-1}                           # vLLM tensor parallel size of the rollout
GPU_MEM_UTIL=${GPU_MEM_UTIL:-0.6}                     # vLLM gpu_memory_utilization of the rollout
JUDGE_URLS=${JUDGE_URLS:-}                            # judge base URLs, comma-separated; empty: recipe default
JUDGE_MODEL=${JUDGE_MODEL:-}                          # fgrpo.judge.model; empty: recipe default
RECIPE=${RECIPE:-fgrpo}                               # recipe variant (recipe/fgrpo/config/recipe/*.yaml)
EXPERIMENT=${EXPERIMENT:-qwen2_5_vl_3b_$RECIPE}       # trainer.experiment_name
CKPT_DIR=${CKPT_DIR:-checkpoints/fgrpo/$EXPERIMENT}   # trainer.default_local_dir (resumed automatically)
LOGGER=${LOGGER:-console,wandb}                       # trainer.logger backends, comma-separated
PYTHON=${PYTHON:-python3}                             # interpreter with fgrpo-verl and verl[vllm,fsdp]
DRY_RUN=${DRY_RUN:-0}                                 # 1: print the command instead of running it
# --- end settings

fgrpo_train "$@"
