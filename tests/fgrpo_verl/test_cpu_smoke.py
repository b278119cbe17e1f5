"""The CPU smoke's verl add-ons (fgrpo_verl/cpu_smoke): off unless asked for, and what each piece does.

The platform and rollout registration change process-wide state, so they are checked in fresh
interpreters; the rollout server runs for real on the tiny Qwen2.5-VL in this process.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fgrpo_verl.cpu_smoke.platform import _single_gloo_backend

REPO = Path(__file__).resolve().parents[2]
WELL_FORMED = re.compile(r"^<think>[^<]*(<bbox>\[\d+, \d+, \d+, \d+\]</bbox>[^<]*)?</think><answer>[A-Z]</answer>$")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("VERL_USE_EXTERNAL_MODULES", "VERL_PLATFORM")}
    full_env.update(env, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("backend", "expected"),
    [("cpu:gloo,cpu:gloo", "cpu:gloo"), ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"), ("gloo", "gloo"), (None, None)],
)
def test_backend_string_loses_only_duplicates(backend, expected):
    assert _single_gloo_backend(backend) == expected


@given(
    options=st.lists(st.sampled_from("ABCDEFGH"), min_size=1, max_size=6, unique=True),
    seed=st.integers(0, 10**6),
    size=st.tuples(st.integers(1, 2000), st.integers(1, 2000)),
)
def test_scripted_answers_are_well_formed_and_pick_an_offered_letter(options, seed, size):
    from fgrpo_verl.cpu_smoke.hf_rollout import scripted_response

    prompt = "Which one?\nOptions:\n" + "\n".join(f"({letter}) thing {letter}" for letter in options) + "\nAnswer."
    text = scripted_response(prompt, random.Random(seed), size)
    assert WELL_FORMED.match(text), text
    assert re.search(r"<answer>([A-Z])</answer>", text).group(1) in options
    for box in re.findall(r"<bbox>\[(\d+), (\d+), (\d+), (\d+)\]</bbox>", text):
        x1, y1, x2, y2 = map(int, box)
        assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]


@pytest.mark.slow
def test_a_plain_verl_import_loads_nothing_of_the_cpu_smoke():
    result = _python(
        "import sys, verl\n"
        "from verl.workers.rollout.base import _ROLLOUT_REGISTRY\n"
        "print(sorted(m for m in sys.modules if 'cpu_smoke' in m), ('hf_cpu', 'async') in _ROLLOUT_REGISTRY)"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[] False"


@pytest.mark.slow
def test_when_named_it_gives_verl_a_cpu_platform_and_the_hf_rollout():
    result = _python(
        "import torch, verl\n"
        "from verl.utils.device import get_device_name, get_device_id, get_nccl_backend, get_resource_name\n"
        "from verl.workers.rollout.base import get_rollout_class\n"
        "from verl.workers.rollout.replica import get_rollout_replica_class\n"
        "import torch.distributed.fsdp as fsdp\n"
        "print(get_device_name(), get_device_id(), get_nccl_backend(), get_resource_name(),"
        " fsdp.CPUOffloadPolicy(pin_memory=True).pin_memory,"
        " get_rollout_class('hf_cpu').__name__, get_rollout_replica_class('hf_cpu').__name__)",
        VERL_USE_EXTERNAL_MODULES="fgrpo_verl.cpu_smoke.register",
        VERL_PLATFORM="cpu",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "cpu cpu gloo GPU False HFServerAdapter HFRolloutReplica"


@pytest.mark.slow
def test_rollout_server_generates_on_an_image_prompt_and_follows_weight_updates(tiny_qwen_dir, monkeypatch):
    """The server's log-probs are the model's own, and a weight update changes them."""
    import asyncio
    from types import SimpleNamespace

    import torch
    from PIL import Image
    from transformers import AutoProcessor

    from fgrpo_verl.cpu_smoke.hf_rollout import HFRolloutServer

    monkeypatch.setenv("FGRPO_CPU_ROLLOUT_MODE", "scripted")
    from omegaconf import OmegaConf

    model_config = OmegaConf.create({"path": str(tiny_qwen_dir)})  # the Hydra node verl's replica hands over
    server = HFRolloutServer(SimpleNamespace(response_length=64, max_model_len=None), model_config, replica_rank=0)
    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Left?\n(A) yes\n(B) no"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image = Image.new("RGB", (90, 60), "red")
    prompt_ids = processor(text=[text], images=[image], return_tensors="pt")["input_ids"][0].tolist()

    def generate():
        params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}
        return asyncio.run(server.generate(prompt_ids, params, request_id="r1", image_data=[image]))

    out = generate()
    response = processor.tokenizer.decode(out.token_ids, skip_special_tokens=True)
    assert re.fullmatch(r"<think>.*</think><answer>[AB]</answer>", response, re.S), response
    assert len(out.log_probs) == len(out.token_ids) and all(lp <= 0 for lp in out.log_probs)
    assert out.stop_reason == "completed"

    weights = {name: tensor + 0.05 * torch.randn_like(tensor) for name, tensor in server.model.state_dict().items()}
    assert server.load_weights(weights, global_steps=None) == len(weights)
    again = generate()  # same request id and step: the same scripted tokens, scored by the new weights
    assert again.token_ids == out.token_ids and again.log_probs != out.log_probs
    with pytest.raises(KeyError, match="does not have"):
        server.load_weights({"not.a.weight": torch.zeros(1)})
