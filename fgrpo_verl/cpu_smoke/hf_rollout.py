"""A rollout backend for verl 0.9.1 that generates with Hugging Face ``transformers`` on CPU.

verl's agent loop talks to rollout *servers* (vLLM, SGLang, TensorRT-LLM); none of them runs on a
CPU here. This module is the stand-in, registered as ``rollout.name=hf_cpu`` by
:func:`fgrpo_verl.cpu_smoke.activate`:

* :class:`HFRolloutServer` - a Ray actor holding a copy of the policy. ``generate`` takes what the
  agent loop sends a vLLM server (prompt token ids with the image placeholders, PIL images,
  sampling parameters) and returns verl's ``TokenOutput`` with the log-probabilities of the
  response tokens under the current weights:
  ``log p(y_t | x, y_<t) = log_softmax(logits_t / T)[y_t]`` (``T`` = temperature, 1 when greedy).
* :class:`HFRolloutReplica` - the ``RolloutReplica`` that starts one server per replica.
* :class:`HFServerAdapter` - the ``BaseRollout`` that lives in the training worker. Every step
  verl hands it the actor's weights (``update_weights``); it gathers them on CPU and loads them
  into the server, so the rollout always samples from the policy being trained.

Two generation modes (``FGRPO_CPU_ROLLOUT_MODE``):

* ``sample`` - ``model.generate`` with the sampling parameters. A random tiny model writes
  noise, so every reward is 0 and every advantage and gradient is 0.
* ``scripted`` (default) - a well-formed ``<think>…</think><answer>X</answer>`` with a random
  option letter of the prompt (a random box in half of the rollouts, a conclusion that agrees
  with the answer in most). Rewards, advantages and gradients are then non-zero, which is what
  the smoke checks. Log-probabilities are still those of the current model.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Iterable
from typing import Any

import ray
import torch
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, TokenOutput

MODE_ENV = "FGRPO_CPU_ROLLOUT_MODE"
MODES = ("scripted", "sample")
SERVER_NAME = "fgrpo_hf_rollout_server_{replica_rank}"
_OPTION = re.compile(r"^\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)


def rollout_mode() -> str:
    """The generation mode from ``FGRPO_CPU_ROLLOUT_MODE`` (default ``scripted``)."""
    mode = os.environ.get(MODE_ENV, "scripted").strip().lower()
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def scripted_response(prompt_text: str, rng: random.Random, image_size: tuple[int, int] | None = None) -> str:
    """A well-formed answer to a multiple-choice prompt: ``<think>…</think><answer>X</answer>``.

    The letter is drawn from the prompt's ``(A) text`` option lines (A-D when there are none). The
    reasoning concludes the answer's option text, except in one rollout out of five where that
    option is drawn again (so it may contradict the answer); in half of them it also names a box
    ``<bbox>[x1, y1, x2, y2]</bbox>`` drawn inside ``image_size`` (w, h).
    """
    options = dict(_OPTION.findall(prompt_text)) or {letter: letter for letter in "ABCD"}
    letters = sorted(options)
    answer = rng.choice(letters)
    concluded = rng.choice(letters) if rng.random() < 0.2 else answer
    sentences = ["I compare the objects the question names in the image."]
    if rng.random() < 0.5:
        width, height = image_size or (100, 100)
        x1, y1 = rng.randrange(0, max(1, width // 2)), rng.randrange(0, max(1, height // 2))
        x2, y2 = rng.randrange(x1 + 1, width + 1), rng.randrange(y1 + 1, height + 1)
        sentences.append(f"The first object is at <bbox>[{x1}, {y1}, {x2}, {y2}]</bbox>.")
    sentences.append(f"So the answer is {options[concluded]}.")
    return f"<think>{' '.join(sentences)}</think><answer>{answer}</answer>"


class HFRolloutServer:
    """Ray actor: the policy in ``transformers``, generating token-in/token-out for verl's agent loop."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
        # The replica hands over the Hydra nodes (as verl's vLLM server gets them).
        if not isinstance(config, RolloutConfig):
            config = omega_conf_to_dataclass(config)
        if not isinstance(model_config, HFModelConfig):
            model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.config = config
        self.replica_rank = replica_rank
        path = model_config.local_path
        self.processor = AutoProcessor.from_pretrained(path, trust_remote_code=model_config.trust_remote_code)
        self.tokenizer = self.processor.tokenizer
        self.model = AutoModelForImageTextToText.from_pretrained(path, torch_dtype=torch.float32)
        self.model.eval()
        self.mode = rollout_mode()
        self.global_steps: int | None = None
        self.weight_updates = 0
        self._lock = asyncio.Lock()
        config_ids = model_config.hf_config
        self.image_token_id = getattr(config_ids, "image_token_id", None)
        self.merge = getattr(getattr(config_ids, "vision_config", None), "spatial_merge_size", 2)
        self.max_model_len = int(getattr(config, "max_model_len", None) or 0) or None

    # -- weights ---------------------------------------------------------------------------------
    def load_weights(self, named: dict[str, torch.Tensor], global_steps: int | None = None) -> int:
        """Load the actor's full weights; returns how many tensors were loaded.

        Names must be the model's own parameter names; a tied ``lm_head.weight`` may be absent.
        """
        own = self.model.state_dict()
        unknown = sorted(set(named) - set(own))
        if unknown:
            raise KeyError(f"weights the rollout model does not have: {unknown[:5]} (of {len(unknown)})")
        missing = sorted(set(own) - set(named))
        tied = {"lm_head.weight"} if self.model.config.get_text_config().tie_word_embeddings else set()
        if set(missing) - tied:
            raise KeyError(f"weight update lacks {missing[:5]} (of {len(missing)})")
        with torch.no_grad():
            for name, tensor in named.items():
                own[name].copy_(tensor.to(own[name].dtype))
        self.weight_updates += 1
        self.global_steps = global_steps
        return len(named)

    def weight_update_count(self) -> int:
        return self.weight_updates

    # -- generation ------------------------------------------------------------------------------
    def _mm_inputs(self, prompt_ids: list[int], images: list[Any] | None) -> tuple[list[int], dict[str, Any]]:
        """Pixel inputs for the images; expands one placeholder per image to the model's token count."""
        if not images:
            return prompt_ids, {}
        pixels = self.processor.image_processor(images=images, return_tensors="pt")
        grid = pixels["image_grid_thw"]
        per_image = [int(n) for n in (grid.prod(dim=-1) // (self.merge**2)).tolist()]
        pads = sum(1 for token in prompt_ids if token == self.image_token_id)
        if pads == len(images) and pads != sum(per_image):
            expanded, k = [], 0
            for token in prompt_ids:
                if token == self.image_token_id:
                    expanded.extend([token] * per_image[k])
                    k += 1
                else:
                    expanded.append(token)
            prompt_ids = expanded
        elif pads != sum(per_image):
            raise ValueError(f"prompt has {pads} image tokens, its {len(images)} image(s) need {sum(per_image)}")
        return prompt_ids, {"pixel_values": pixels["pixel_values"], "image_grid_thw": grid}

    def _log_probs(self, ids: list[int], n_prompt: int, mm: dict[str, Any], temperature: float) -> list[float]:
        """``log_softmax(logits / T)`` of each response token, teacher-forced on prompt + response."""
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            logits = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **mm).logits[0]
        scale = temperature if temperature and temperature > 0 else 1.0
        logp = torch.log_softmax(logits[n_prompt - 1 : len(ids) - 1].float() / scale, dim=-1)
        response = torch.tensor(ids[n_prompt:])
        return logp.gather(-1, response[:, None])[:, 0].tolist()

    def _generate_sync(
        self, prompt_ids: list[int], sampling_params: dict[str, Any], images: list[Any] | None, request_id: str
    ) -> TokenOutput:
        ids, mm = self._mm_inputs(list(prompt_ids), images)
        budget = int(self.config.response_length)
        if self.max_model_len:
            budget = min(budget, self.max_model_len - len(ids))
        if budget < 1:
            raise ValueError(
                f"prompt of {len(ids)} tokens leaves no room to generate (max_model_len {self.max_model_len})"
            )
        temperature = float(sampling_params.get("temperature", 1.0) or 0.0)
        eos = self.tokenizer.eos_token_id
        if self.mode == "scripted":
            rng = random.Random(f"{request_id}:{self.global_steps}")
            size = images[0].size if images and hasattr(images[0], "size") else None
            text = scripted_response(self.tokenizer.decode(prompt_ids), rng, size)
            response = self.tokenizer.encode(text, add_special_tokens=False)[: budget - 1] + [eos]
        else:
            input_ids = torch.tensor([ids])
            top_k = int(sampling_params.get("top_k", -1) or -1)
            kwargs = {
                "do_sample": temperature > 0,
                "max_new_tokens": budget,
                "eos_token_id": eos,
                "pad_token_id": self.tokenizer.pad_token_id,
            }
            if temperature > 0:
                kwargs.update(
                    temperature=temperature,
                    top_p=float(sampling_params.get("top_p", 1.0)),
                    top_k=top_k if top_k > 0 else 0,
                )
            with torch.no_grad():
                out = self.model.generate(
                    input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **mm, **kwargs
                )
            response = out[0, len(ids) :].tolist()
        log_probs = self._log_probs(ids + response, len(ids), mm, temperature)
        finished = bool(response) and response[-1] == eos
        return TokenOutput(
            token_ids=response,
            log_probs=log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed" if finished else None,
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps},
        )

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        **kwargs: Any,
    ) -> TokenOutput:
        """verl's token-in/token-out call (the vLLM server's signature); one request at a time."""
        if video_data:
            raise NotImplementedError("the CPU rollout stand-in does not take videos")
        async with self._lock:
            return await asyncio.to_thread(self._generate_sync, prompt_ids, sampling_params, image_data, request_id)

    # -- control calls verl makes on every server; nothing to free on CPU ----------------------------
    async def wake_up(self, tags: list[str] | None = None) -> None: ...
    async def sleep(self) -> None: ...
    async def clear_kv_cache(self) -> None: ...
    async def release_kv_cache(self) -> None: ...
    async def resume_kv_cache(self) -> None: ...
    async def wait_for_requests_to_drain(self) -> None: ...
    async def abort_all_requests(self, reject_request: bool = False, **kwargs: Any) -> dict[str, Any]:
        return {}

    async def resume_generation(self) -> None: ...
    async def start_profile(self, **kwargs: Any) -> None: ...
    async def stop_profile(self) -> None: ...

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps


class HFRolloutReplica(RolloutReplica):
    """One :class:`HFRolloutServer` per replica, on the host CPU (no accelerator resource)."""

    async def launch_servers(self) -> None:
        name = SERVER_NAME.format(replica_rank=self.replica_rank)
        server = (
            ray.remote(HFRolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        await server.weight_update_count.remote()  # waits until the model is loaded
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"ray-actor:{name}"


class HFServerAdapter(BaseRollout):
    """In the training worker: forwards the actor's weights to this replica's server every step."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, replica_rank: int = -1, **kwargs: Any):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        per_replica = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // per_replica if replica_rank == -1 else replica_rank
        self.is_leader = rank % per_replica == 0
        self._server: Any = None

    def _server_handle(self) -> Any:
        if self._server is None:
            self._server = ray.get_actor(SERVER_NAME.format(replica_rank=self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    async def update_weights(
        self,
        weights: Iterable[tuple[str, torch.Tensor]],
        wire_format: str = "named_tensors",
        global_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        if wire_format != "named_tensors":
            raise NotImplementedError(f"the CPU rollout stand-in takes full tensors, not {wire_format!r}")
        if kwargs.get("peft_config") is not None:
            raise NotImplementedError("the CPU rollout stand-in does not take LoRA adapters")
        # Every rank walks the generator: gathering an FSDP2 shard (full_tensor) is a collective.
        named = {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in weights}
        if self.is_leader:
            await self._server_handle().load_weights.remote(named, global_steps)
