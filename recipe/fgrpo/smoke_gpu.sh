#!/usr/bin/env bash
# GPU smoke test of the FGRPO recipe: a couple of real training steps, a checkpoint, then a
# resume that must continue with exactly the saved lambda.
#
# Usage:
#   recipe/fgrpo/smoke_gpu.sh [--dry-run] [HYDRA_OVERRIDE ...]
#   recipe/fgrpo/smoke_gpu.sh --help
#
# Example (one GPU, the model from a local folder):
#   MODEL=/models/Qwen2.5-VL-3B-Instruct GPUS=1 recipe/fgrpo/smoke_gpu.sh
#
# Steps: write small synthetic train/val sets (data_prep.synthetic, with scene graphs, so the
# offline rule judge can ground sentences); train STEPS steps of 8 prompts x 5 rollouts with
# rollout weights loaded as dummies and synced from the actor (load_format=dummy), saving at the
# last step; run again with one more step (resume_mode=auto); then recipe.fgrpo.check_resume
# checks that the resumed step used the lambda saved in global_step_$STEPS/fgrpo_duals.json.
# GPUS must divide 40 (the rollouts per step). Extra arguments are Hydra overrides for both runs.
#
# Dry run (DRY_RUN=1 or --dry-run): print the commands instead of running them.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$SCRIPT_DIR/train_lib.sh"
fg_init smoke_gpu

# --- settings
MODEL=${MODEL:-Qwen/Qwen2.5-VL-3B-Instruct}          # policy: HF id or local path
GPUS=${GPUS:-1}                                       # GPUs to use on this machine (trainer.n_gpus_per_node)
STEPS=${STEPS:-2}                                     # training steps before the checkpoint
WORK=${WORK:-/tmp/fgrpo_smoke}                        # data, checkpoints and metric logs
PYTHON=${PYTHON:-python3}                             # interpreter with fgrpo-verl and verl[vllm,fsdp]
DRY_RUN=${DRY_RUN:-0}                                 # 1: print the commands instead of running them
# --- end settings

fgrpo_parse_args "${BASH_SOURCE[0]}" "$@"
fg_require_positive GPUS "$GPUS"
fg_require_positive STEPS "$STEPS"
((40 % GPUS == 0)) || fg_die "GPUS must divide 40 (8 prompts x 5 rollouts per step), got $GPUS"

common=(
  "+recipe=fgrpo"
  "data.train_files=[$WORK/train.parquet]"
  "data.val_files=[$WORK/val.parquet]"
  "data.train_batch_size=8"
  "data.max_response_length=256"
  "data.dataloader_num_workers=0"
  "actor_rollout_ref.model.path=$MODEL"
  "actor_rollout_ref.actor.ppo_mini_batch_size=8"
  "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8192"
  "actor_rollout_ref.rollout.load_format=dummy"
  "actor_rollout_ref.rollout.tensor_model_parallel_size=1"
  "actor_rollout_ref.rollout.gpu_memory_utilization=0.4"
  "reward.num_workers=2"
  "trainer.nnodes=1"
  "trainer.n_gpus_per_node=$GPUS"
  "trainer.project_name=fgrpo_smoke"
  "trainer.experiment_name=smoke"
  "trainer.logger=[console,file]"
  "trainer.val_before_train=false"
  "trainer.test_freq=-1"
  "trainer.save_freq=$STEPS"
  "trainer.resume_mode=auto"
  "trainer.default_local_dir=$WORK/ckpt"
  "fgrpo.judge.backend=rule"
  "fgrpo.min_applicable=1"
)

if ! fg_dry; then
  rm -rf "$WORK/ckpt"
  mkdir -p "$WORK"
fi
fg_run "$PYTHON" -m data_prep.synthetic --out "$WORK/train.parquet" --num 64 --seed 0
fg_run "$PYTHON" -m data_prep.synthetic --out "$WORK/val.parquet" --num 16 --seed 1
fg_log "training $STEPS steps, then a checkpoint"
fg_run env VERL_FILE_LOGGER_PATH="$WORK/run1.jsonl" \
  "$PYTHON" -m verl.trainer.main_ppo "${common[@]}" "trainer.total_training_steps=$STEPS" "${OVERRIDES[@]}"
fg_log "resuming for one more step"
fg_run env VERL_FILE_LOGGER_PATH="$WORK/run2.jsonl" \
  "$PYTHON" -m verl.trainer.main_ppo "${common[@]}" "trainer.total_training_steps=$((STEPS + 1))" "${OVERRIDES[@]}"
fg_run "$PYTHON" -m recipe.fgrpo.check_resume --ckpt-dir "$WORK/ckpt" --step "$STEPS" --log "$WORK/run2.jsonl"
