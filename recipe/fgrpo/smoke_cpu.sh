#!/usr/bin/env bash
# CPU smoke test of the FGRPO recipe: verl's real `main_ppo +recipe=fgrpo` on a tiny random
# Qwen2.5-VL, 2 steps, a checkpoint, a resume for step 3, then checks of metrics and weights.
# No GPU, no network. Run it from a checkout of this repository (it builds the tiny model with
# tests/support/tiny_qwen.py) in an environment with the `dev` extra installed.
#
# Usage:
#   recipe/fgrpo/smoke_cpu.sh [--dry-run] OUT_DIR [HYDRA_OVERRIDE ...]
#   recipe/fgrpo/smoke_cpu.sh --help
#
# Example (about 5 minutes on 2 busy cores, about 10-14 GB of host memory in use at the peak):
#   recipe/fgrpo/smoke_cpu.sh /tmp/fgrpo_cpu_smoke
#
# Steps: build the tiny Qwen2.5-VL into OUT_DIR/model and small synthetic train/val sets
# (data_prep.synthetic, with scene graphs for the offline rule judge); train STEPS steps of 2
# prompts x 4 rollouts with FSDP2 on gloo, saving at the last step; resume for one more step
# (resume_mode=auto); then recipe.fgrpo.check_smoke checks: fgrpo/* metrics logged, at least one
# lambda moved, actor grad norm > 0, the resumed step used exactly the saved lambda, and the
# vision tower is bit-identical to the initial weights while the language model changed
# (actor.freeze_vision_tower). Exits non-zero on any failed check; the last line then starts
# with "smoke FAILED", otherwise with "smoke ok".
#
# What makes verl run on a CPU (fgrpo_verl/cpu_smoke, loaded only here through
# VERL_USE_EXTERNAL_MODULES=fgrpo_verl.cpu_smoke.register): a CPU platform (VERL_PLATFORM=cpu,
# one fake Ray GPU) and a rollout backend in HF transformers (rollout.name=hf_cpu) whose default
# "scripted" mode emits well-formed <think>...</think><answer>X</answer> answers with random
# letters, so rewards and gradients are not all zero (ROLLOUT_MODE=sample generates with the
# random model instead).
# Extra arguments are Hydra overrides for both runs, e.g. a recipe variant's keys.
#
# Dry run (DRY_RUN=1 or --dry-run): print the commands instead of running them.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$SCRIPT_DIR/train_lib.sh"
fg_init smoke_cpu

# --- settings
STEPS=${STEPS:-2}                                     # training steps before the checkpoint
ROLLOUT_MODE=${ROLLOUT_MODE:-scripted}                # scripted | sample (see above)
PYTHON=${PYTHON:-python3}                             # interpreter with fgrpo-verl[dev]
DRY_RUN=${DRY_RUN:-0}                                 # 1: print the commands instead of running them
# --- end settings

fgrpo_parse_args "${BASH_SOURCE[0]}" "$@"
((${#OVERRIDES[@]})) || fg_die "usage: smoke_cpu.sh [--dry-run] OUT_DIR [HYDRA_OVERRIDE ...] (see --help)"
WORK=${OVERRIDES[0]}
OVERRIDES=("${OVERRIDES[@]:1}")
[[ $WORK == /* ]] || WORK="$PWD/$WORK"
[[ ! -e $WORK || -d $WORK ]] || fg_die "OUT_DIR $WORK exists and is not a directory"
fg_require_positive STEPS "$STEPS"
[[ $ROLLOUT_MODE == scripted || $ROLLOUT_MODE == sample ]] || fg_die "ROLLOUT_MODE must be scripted or sample, got '$ROLLOUT_MODE'"
[[ -f "$REPO_DIR/tests/support/tiny_qwen.py" ]] || fg_die "run from a checkout of fgrpo-verl: $REPO_DIR/tests/support/tiny_qwen.py not found"

# The tiny model's processor bounds (tests/support/tiny_qwen.py): the reward's model frame must match.
MIN_PIXELS=3136    # 4 * 28 * 28
MAX_PIXELS=50176   # 64 * 28 * 28

common=(
  "+recipe=fgrpo"
  "data.train_files=[$WORK/train.parquet]"
  "data.val_files=[$WORK/val.parquet]"
  "data.train_batch_size=2"
  "data.max_prompt_length=1024"
  "data.max_response_length=96"
  "data.dataloader_num_workers=0"
  "actor_rollout_ref.model.path=$WORK/model"
  "actor_rollout_ref.model.use_remove_padding=false"
  "+actor_rollout_ref.model.override_config.attn_implementation=sdpa"
  "actor_rollout_ref.actor.strategy=fsdp2"
  "actor_rollout_ref.actor.fsdp_config.strategy=fsdp2"
  "actor_rollout_ref.ref.fsdp_config.strategy=fsdp2"
  "actor_rollout_ref.actor.use_torch_compile=false"
  "actor_rollout_ref.ref.use_torch_compile=false"
  "actor_rollout_ref.actor.ppo_mini_batch_size=2"
  "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=8192"
  "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]"
  "actor_rollout_ref.rollout.name=hf_cpu"
  "actor_rollout_ref.rollout.n=4"
  "actor_rollout_ref.rollout.load_format=dummy"
  "actor_rollout_ref.rollout.tensor_model_parallel_size=1"
  "actor_rollout_ref.rollout.agent.num_workers=1"
  "reward.num_workers=1"
  "+ray_kwargs.ray_init.num_gpus=1"
  "ray_kwargs.ray_init.num_cpus=32"   # logical: TransferQueue's storage actors alone reserve 8
  "trainer.device=cpu"
  "trainer.nnodes=1"
  "trainer.n_gpus_per_node=1"
  "trainer.project_name=fgrpo_smoke"
  "trainer.experiment_name=smoke_cpu"
  "trainer.logger=[console,file]"
  "trainer.val_before_train=false"
  "trainer.test_freq=-1"
  "trainer.save_freq=$STEPS"
  "trainer.resume_mode=auto"
  "trainer.default_local_dir=$WORK/ckpt"
  "fgrpo.judge.backend=rule"
  "fgrpo.min_applicable=1"
  "fgrpo.image.min_pixels=$MIN_PIXELS"
  "fgrpo.image.max_pixels=$MAX_PIXELS"
)

# Only this run loads the CPU platform and the HF rollout (VERL_PLATFORM=cpu wins over any real GPU).
cpu_env=(
  "VERL_USE_EXTERNAL_MODULES=fgrpo_verl.cpu_smoke.register"
  "VERL_PLATFORM=cpu"
  "VERL_ENGINE_DEVICE=cuda"
  "FGRPO_CPU_ROLLOUT_MODE=$ROLLOUT_MODE"
  "OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"
  "TOKENIZERS_PARALLELISM=false"
  "PYTHONPATH=$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}"
)

start=$SECONDS
if ! fg_dry; then
  rm -rf "$WORK/ckpt" "$WORK/run1.jsonl" "$WORK/run2.jsonl"
  mkdir -p "$WORK"
fi
fg_run env "PYTHONPATH=$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c \
  "import sys; from tests.support.tiny_qwen import build_tiny_qwen; build_tiny_qwen(sys.argv[1])" "$WORK/model"
fg_run "$PYTHON" -m data_prep.synthetic --out "$WORK/train.parquet" --num 16 --seed 0
fg_run "$PYTHON" -m data_prep.synthetic --out "$WORK/val.parquet" --num 4 --seed 1
fg_log "training $STEPS steps on CPU, then a checkpoint"
fg_run env "${cpu_env[@]}" VERL_FILE_LOGGER_PATH="$WORK/run1.jsonl" \
  "$PYTHON" -m verl.trainer.main_ppo "${common[@]}" "trainer.total_training_steps=$STEPS" "${OVERRIDES[@]}"
fg_log "resuming for one more step"
fg_run env "${cpu_env[@]}" VERL_FILE_LOGGER_PATH="$WORK/run2.jsonl" \
  "$PYTHON" -m verl.trainer.main_ppo "${common[@]}" "trainer.total_training_steps=$((STEPS + 1))" "${OVERRIDES[@]}"
if fg_run env "PYTHONPATH=$REPO_DIR${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m recipe.fgrpo.check_smoke \
  --ckpt-dir "$WORK/ckpt" --step "$STEPS" --log "$WORK/run1.jsonl" --resumed-log "$WORK/run2.jsonl" \
  --init-model "$WORK/model"; then
  fg_dry || echo "smoke ok: $STEPS steps + checkpoint + resume on CPU in $((SECONDS - start)) s ($WORK)"
else
  echo "smoke FAILED: see the check_smoke lines above ($WORK)"
  exit 1
fi
