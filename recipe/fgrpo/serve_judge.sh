#!/usr/bin/env bash
# Serve the FGRPO judge (consistency + semantic grounding) as a vLLM OpenAI-compatible server.
#
# Usage:
#   recipe/fgrpo/serve_judge.sh [--dry-run]        start vLLM, wait for /health, print the base URL
#   recipe/fgrpo/serve_judge.sh --verl-overrides   print the Hydra overrides that make verl serve
#                                                  the judge itself, on its own resource pool
#   recipe/fgrpo/serve_judge.sh --help
#
# The server keeps running in the foreground once healthy (Ctrl-C or SIGTERM stops it). The
# last line on stdout is the base URL, e.g. http://gpu07:8000/v1; pass it to training as
#   fgrpo.judge.urls=[http://gpu07:8000/v1] fgrpo.judge.model=$JUDGE_SERVED_NAME
# Several servers (one per node) are used together as fgrpo.judge.urls=[URL1,URL2,...].
#
# API key: if the variable named by JUDGE_API_KEY_ENV is set, vLLM gets it through its own
# VLLM_API_KEY environment variable (never on the command line) and requires it on /v1 routes;
# training reads the same variable (fgrpo.judge.api_key_env). The value is never printed.
#
# --verl-overrides: instead of a separate server, verl can start the judge on a standalone
# resource pool (reward.reward_model.enable_resource_pool=True) behind its own router and hand
# the router address to the reward manager (fgrpo.judge.backend=router). The pool's GPUs come on
# top of trainer.nnodes x trainer.n_gpus_per_node, so the Ray cluster needs
# JUDGE_POOL_NODES x JUDGE_POOL_GPUS_PER_NODE more GPUs.
#
# Dry run (DRY_RUN=1 or --dry-run): print the commands (vllm, curl) instead of running them.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$SCRIPT_DIR/cluster_lib.sh"
fg_init serve_judge

# --- settings
JUDGE_MODEL=${JUDGE_MODEL:-Qwen/Qwen3-VL-30B-A3B-Instruct}  # HF id or local path of the judge
JUDGE_SERVED_NAME=${JUDGE_SERVED_NAME:-$JUDGE_MODEL}       # model name clients send (= fgrpo.judge.model)
JUDGE_TP=${JUDGE_TP:-2}                                    # tensor parallel size (30B-A3B bf16: 2-4 on 80GB GPUs)
JUDGE_DP=${JUDGE_DP:-1}                                    # data parallel replicas in this server (TP x DP GPUs)
JUDGE_EXPERT_PARALLEL=${JUDGE_EXPERT_PARALLEL:-0}          # 1: --enable-expert-parallel (MoE experts over TP x DP)
JUDGE_PORT=${JUDGE_PORT:-8000}                             # HTTP port
JUDGE_HOST=${JUDGE_HOST:-0.0.0.0}                          # interface to bind
JUDGE_PUBLIC_HOST=${JUDGE_PUBLIC_HOST:-$(hostname -f 2>/dev/null || hostname)}  # host name in the printed URL
JUDGE_DTYPE=${JUDGE_DTYPE:-bfloat16}                       # weights/activations dtype
JUDGE_MAX_MODEL_LEN=${JUDGE_MAX_MODEL_LEN:-16384}          # context: image tokens + question + reasoning + verdict
JUDGE_MAX_IMAGES=${JUDGE_MAX_IMAGES:-4}                    # images per request (the policy's images per prompt)
JUDGE_GPU_MEM_UTIL=${JUDGE_GPU_MEM_UTIL:-0.90}             # share of GPU memory vLLM may use
JUDGE_MAX_NUM_SEQS=${JUDGE_MAX_NUM_SEQS:-256}              # concurrent sequences per replica
JUDGE_MM_ENCODER_TP_MODE=${JUDGE_MM_ENCODER_TP_MODE:-data} # vision encoder data-parallel across TP ranks; empty: vLLM default
JUDGE_EXTRA_ARGS=${JUDGE_EXTRA_ARGS:-}                     # more vllm serve flags, whitespace-separated
JUDGE_API_KEY_ENV=${JUDGE_API_KEY_ENV:-FGRPO_JUDGE_API_KEY} # NAME of the variable holding the API key
JUDGE_HEALTH_TIMEOUT=${JUDGE_HEALTH_TIMEOUT:-1800}         # seconds to wait for /health (download + load)
JUDGE_HEALTH_INTERVAL=${JUDGE_HEALTH_INTERVAL:-10}         # seconds between /health polls
VLLM_BIN=${VLLM_BIN:-vllm}                                 # vllm executable
JUDGE_POOL_NODES=${JUDGE_POOL_NODES:-1}                    # --verl-overrides: nodes of verl's judge pool
JUDGE_POOL_GPUS_PER_NODE=${JUDGE_POOL_GPUS_PER_NODE:-8}    # --verl-overrides: GPUs per node of that pool
REWARD_FN_PATH=${REWARD_FN_PATH:-pkg://fgrpo_verl.reward_manager}  # --verl-overrides: see below
REWARD_FN_NAME=${REWARD_FN_NAME:-task_score}               # --verl-overrides: function in REWARD_FN_PATH
DRY_RUN=${DRY_RUN:-0}                                      # 1: print commands instead of running them
# --- end settings
# REWARD_FN_PATH: with reward.reward_model.enable=True, verl 0.9.1's RewardLoopWorker calls the
# reward manager only when reward.custom_reward_function.path is set; otherwise it scores rollouts
# with the served model as a discriminative reward model. Any module defining REWARD_FN_NAME works
# (pkg://module or a file path); the FGRPO manager computes its own rewards either way.

mode=serve
while (($#)); do
  case $1 in
    -h | --help) fg_usage "${BASH_SOURCE[0]}"; exit 0 ;;
    --dry-run) DRY_RUN=1 ;;
    --verl-overrides) mode=verl ;;
    *) fg_die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

fg_require_positive JUDGE_TP "$JUDGE_TP"
fg_require_positive JUDGE_DP "$JUDGE_DP"
fg_require_positive JUDGE_PORT "$JUDGE_PORT"
fg_require_positive JUDGE_MAX_MODEL_LEN "$JUDGE_MAX_MODEL_LEN"
fg_require_uint JUDGE_MAX_IMAGES "$JUDGE_MAX_IMAGES"
fg_require_positive JUDGE_MAX_NUM_SEQS "$JUDGE_MAX_NUM_SEQS"
fg_require_positive JUDGE_HEALTH_TIMEOUT "$JUDGE_HEALTH_TIMEOUT"
[[ "$JUDGE_API_KEY_ENV" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
  fg_die "JUDGE_API_KEY_ENV must be a variable name, got '$JUDGE_API_KEY_ENV'"

if [[ $mode == verl ]]; then
  fg_require_positive JUDGE_POOL_NODES "$JUDGE_POOL_NODES"
  fg_require_positive JUDGE_POOL_GPUS_PER_NODE "$JUDGE_POOL_GPUS_PER_NODE"
  ((JUDGE_POOL_GPUS_PER_NODE % JUDGE_TP == 0)) ||
    fg_die "JUDGE_POOL_GPUS_PER_NODE ($JUDGE_POOL_GPUS_PER_NODE) must be a multiple of JUDGE_TP ($JUDGE_TP)"
  if [[ $REWARD_FN_PATH != pkg://* && ! -f ${REWARD_FN_PATH#file://} ]]; then
    fg_log "warning: REWARD_FN_PATH=$REWARD_FN_PATH is not a file here"
  fi
  replicas=$((JUDGE_POOL_NODES * JUDGE_POOL_GPUS_PER_NODE / JUDGE_TP))
  fg_log "verl-served judge: $replicas vLLM replica(s) of" \
    "$JUDGE_MODEL at TP $JUDGE_TP on $JUDGE_POOL_NODES extra node(s); append these overrides to training:"
  # The served model name of verl's engines is the model path, hence fgrpo.judge.model=$JUDGE_MODEL.
  # free_cache_engine=False: verl would otherwise put the judge to sleep and never wake it (the V1
  # trainer skips compute_rm_score with a reward pool). total_concurrency = replicas x max_num_seqs.
  printf '%s\n' \
    reward.reward_model.enable=True \
    reward.reward_model.enable_resource_pool=True \
    "reward.reward_model.nnodes=$JUDGE_POOL_NODES" \
    "reward.reward_model.n_gpus_per_node=$JUDGE_POOL_GPUS_PER_NODE" \
    "reward.reward_model.model_path=$JUDGE_MODEL" \
    reward.reward_model.rollout.name=vllm \
    "reward.reward_model.rollout.dtype=$JUDGE_DTYPE" \
    "reward.reward_model.rollout.tensor_model_parallel_size=$JUDGE_TP" \
    "reward.reward_model.rollout.gpu_memory_utilization=$JUDGE_GPU_MEM_UTIL" \
    "reward.reward_model.rollout.max_model_len=$JUDGE_MAX_MODEL_LEN" \
    "reward.reward_model.rollout.max_num_seqs=$JUDGE_MAX_NUM_SEQS" \
    "reward.reward_model.rollout.limit_images=$JUDGE_MAX_IMAGES" \
    reward.reward_model.rollout.enforce_eager=False \
    reward.reward_model.rollout.free_cache_engine=False \
    "reward.custom_reward_function.path=$REWARD_FN_PATH" \
    "reward.custom_reward_function.name=$REWARD_FN_NAME" \
    fgrpo.judge.backend=router \
    "fgrpo.judge.model=$JUDGE_MODEL" \
    "fgrpo.judge.total_concurrency=$((replicas * JUDGE_MAX_NUM_SEQS))"
  exit 0
fi

cmd=(
  "$VLLM_BIN" serve "$JUDGE_MODEL"
  --host "$JUDGE_HOST"
  --port "$JUDGE_PORT"
  --served-model-name "$JUDGE_SERVED_NAME"
  --tensor-parallel-size "$JUDGE_TP"
  --dtype "$JUDGE_DTYPE"
  --max-model-len "$JUDGE_MAX_MODEL_LEN"
  --gpu-memory-utilization "$JUDGE_GPU_MEM_UTIL"
  --max-num-seqs "$JUDGE_MAX_NUM_SEQS"
  --limit-mm-per-prompt "{\"image\": $JUDGE_MAX_IMAGES, \"video\": 0}"
)
if ((JUDGE_DP > 1)); then cmd+=(--data-parallel-size "$JUDGE_DP"); fi
if [[ "$JUDGE_EXPERT_PARALLEL" == 1 ]]; then cmd+=(--enable-expert-parallel); fi
if [[ -n "$JUDGE_MM_ENCODER_TP_MODE" ]]; then cmd+=(--mm-encoder-tp-mode "$JUDGE_MM_ENCODER_TP_MODE"); fi
extra=()
fg_split_list extra "$JUDGE_EXTRA_ARGS"
cmd+=("${extra[@]}")

if [[ -n "${!JUDGE_API_KEY_ENV:-}" ]]; then
  export VLLM_API_KEY="${!JUDGE_API_KEY_ENV}"
  fg_log "API key: required by the server, taken from \$$JUDGE_API_KEY_ENV (value ***) via VLLM_API_KEY"
else
  fg_log "API key: none (\$$JUDGE_API_KEY_ENV is unset); the server accepts unauthenticated requests"
fi

case $JUDGE_HOST in
  0.0.0.0 | :: | '') health_host=127.0.0.1 ;;
  *) health_host=$JUDGE_HOST ;;
esac
base_url="http://$JUDGE_PUBLIC_HOST:$JUDGE_PORT/v1"

stop_server() {
  trap - EXIT INT TERM
  fg_kill_bg
}
trap stop_server EXIT
trap 'exit 143' INT TERM

fg_log "starting $JUDGE_MODEL (TP $JUDGE_TP x DP $JUDGE_DP) on port $JUDGE_PORT"
fg_run_bg "${cmd[@]}"
server_pid=${FG_BG_PIDS[0]:-}
fg_wait_http "http://$health_host:$JUDGE_PORT/health" "$JUDGE_HEALTH_TIMEOUT" "$JUDGE_HEALTH_INTERVAL" "$server_pid" ||
  fg_die "judge server did not come up"
fg_log "judge ready; training overrides: 'fgrpo.judge.urls=[$base_url]' fgrpo.judge.model=$JUDGE_SERVED_NAME" \
  "fgrpo.judge.total_concurrency=$((JUDGE_DP * JUDGE_MAX_NUM_SEQS)) (sum it over all judge servers);" \
  "check it with: fgrpo-verl check-judge --url $base_url --model $JUDGE_SERVED_NAME --api-key-env $JUDGE_API_KEY_ENV"
printf '%s\n' "$base_url"
if ! fg_dry; then
  rc=0
  wait "$server_pid" || rc=$?
  FG_BG_PIDS=()
  exit "$rc"
fi
