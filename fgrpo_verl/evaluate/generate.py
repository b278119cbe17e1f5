"""Greedy generations for evaluation with vLLM, from the same prompt the training rollout sees.

The prompt is built as verl builds it for a Qwen2.5-VL rollout: the parquet ``prompt`` messages
with every ``<image>`` placeholder replaced by an image content item (the row's ``images`` in
order), images prepared by ``qwen_vl_utils.process_vision_info`` (``smart_resize`` with the
processor's patch size), text from the model processor's chat template with the generation
prompt. vLLM then receives ``{"prompt": text, "multi_modal_data": {"image": images}}`` and
decodes greedily (temperature 0).

The output is appended to ``GEN.jsonl`` one batch at a time (flushed and synced), one line per
row: ``{"index", "data_source", "response"}`` plus ``"rotation"`` for circular items. A rerun
skips every ``(data_source, index)`` already in the file, so an interrupted run resumes where it
stopped; an unfinished last line (a crash mid-write) is cut off first.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from data_prep.cli import same_file
from data_prep.readers import Unreadable, json_line_values
from fgrpo_verl.evaluate.inputs import GENERATE_COLUMNS, InputError, check_parquets
from fgrpo_verl.evaluate.joins import Key, generation_record, iter_rows

logger = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
#: New tokens per answer: long enough for the reasoning the paper's policy writes (1024 cut answers off).
DEFAULT_MAX_TOKENS = 4096


class GenerationUnavailable(RuntimeError):
    """vLLM or a GPU is missing; the message says what to install or where to run."""


class TextGenerator(Protocol):
    """What :func:`generate` needs from ``vllm.LLM``: ``generate(requests, sampling_params, use_tqdm=...)``
    returning one result per request, in order, each with ``.outputs[0].text``."""

    def generate(self, prompts: list[dict[str, Any]], sampling_params: Any, use_tqdm: bool = ...) -> list[Any]: ...


def _open_image(image: Any, where: str) -> Image.Image:
    data = image.get("bytes") if isinstance(image, Mapping) else None
    if not data:
        raise ValueError(f"{where}: image has no bytes")
    return Image.open(io.BytesIO(data)).convert("RGB")


def chat_messages(row: Mapping[str, Any], where: str = "row") -> list[dict[str, Any]]:
    """The row's ``prompt`` with each ``<image>`` turned into ``{"type": "image", "image": PIL.Image}``.

    Text around placeholders becomes ``{"type": "text"}`` items; ``ValueError`` naming ``where``
    when placeholders and images differ in number.
    """
    images = list(row.get("images") or [])
    used = 0
    messages = []
    for message in row["prompt"]:
        content = message["content"]
        if not images or not isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for segment in re.split(f"({re.escape(IMAGE_PLACEHOLDER)})", content):
            if segment == IMAGE_PLACEHOLDER:
                if used >= len(images):
                    raise ValueError(f"{where}: more {IMAGE_PLACEHOLDER} placeholders than images ({len(images)})")
                parts.append({"type": "image", "image": _open_image(images[used], where)})
                used += 1
            elif segment:
                parts.append({"type": "text", "text": segment})
        messages.append({"role": message["role"], "content": parts})
    if used != len(images):
        raise ValueError(f"{where}: {used} {IMAGE_PLACEHOLDER} placeholders for {len(images)} images")
    return messages


def build_request(row: Mapping[str, Any], processor: Any, where: str = "row") -> dict[str, Any]:
    """A vLLM request for one row: the chat-template text and the prepared images."""
    from qwen_vl_utils import process_vision_info

    messages = chat_messages(row, where)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    request: dict[str, Any] = {"prompt": text}
    if row.get("images"):
        patch_size = getattr(getattr(processor, "image_processor", None), "patch_size", 14)
        images, _ = process_vision_info(messages, image_patch_size=patch_size)
        request["multi_modal_data"] = {"image": images}
    return request


def output_line(key: Key, row: Mapping[str, Any], response: str) -> dict[str, Any]:
    """The generations-file record of one row (``rotation`` only for circular items)."""
    line: dict[str, Any] = {"index": key[1], "data_source": key[0], "response": response}
    extra = row.get("extra_info") or {}
    if extra.get("circular_id"):
        line["rotation"] = int(extra.get("rotation") or 0)
    return line


def check_output(path: str | Path, data: Sequence[str | Path] = ()) -> None:
    """:class:`InputError` when ``--out`` cannot be the generations file: a directory, one of the ``data``
    files, or a parquet file. The resume appends to ``--out`` and cuts an unfinished last line off it, so a
    data file named by mistake would be damaged."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path} is a directory; expected the generations file (GEN.jsonl)")
    if any(same_file(path, d) for d in data):
        raise InputError(f"--out {path} is also a --data file; expected the generations file (GEN.jsonl)")
    if path.is_file():
        with open(path, "rb") as handle:
            if handle.read(4) == b"PAR1":
                raise InputError(f"--out {path} is a parquet file; expected the generations file (GEN.jsonl)")


def prepare_output(path: str | Path) -> set[Key]:
    """Keys already in ``path`` (created if missing, parents too); an unfinished last line is removed.

    Malformed complete lines (not UTF-8, not JSON, wrong fields) are left in place (``score``
    rejects them) and not counted as done. :class:`InputError` as :func:`check_output` says.
    """
    path = Path(path)
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch()
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        logger.warning(
            "%s: removing an unfinished last line (%d bytes) left by an interrupted run", path, len(data) - keep
        )
        with open(path, "r+b") as handle:
            handle.truncate(keep)
        data = data[:keep]
    done = set()
    # The lines as `score` reads them; a malformed one is left for `score` to reject and regenerated here.
    for _, value in json_line_values(io.BytesIO(data), str(path)):
        parsed = generation_record(value) if not isinstance(value, Unreadable) else None
        if isinstance(parsed, tuple):
            done.add(parsed[0])
    return done


@dataclasses.dataclass
class GenerateSummary:
    written: int = 0
    skipped_done: int = 0


def _flush(
    llm: TextGenerator, sampling_params: Any, batch: list[tuple[Key, Mapping[str, Any], dict[str, Any]]], handle: Any
) -> int:
    results = llm.generate([request for _, _, request in batch], sampling_params, use_tqdm=False)
    if len(results) != len(batch):
        raise RuntimeError(f"the generator returned {len(results)} results for {len(batch)} requests")
    for (key, row, _), result in zip(batch, results, strict=True):
        handle.write(json.dumps(output_line(key, row, result.outputs[0].text), ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
    return len(batch)


def generate(
    llm: TextGenerator,
    processor: Any,
    rows: Iterable[tuple[Key, Mapping[str, Any]]],
    out_path: str | Path,
    sampling_params: Any,
    *,
    batch_size: int = 256,
    total: int | None = None,
    progress: bool = True,
) -> GenerateSummary:
    """Generate for every row not yet in ``out_path`` and append the lines, ``batch_size`` requests per call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    done = prepare_output(out_path)
    summary = GenerateSummary()
    remaining = None if total is None else max(0, total - len(done))
    with (
        open(out_path, "a", encoding="utf-8") as handle,
        tqdm(total=remaining, desc="generate", unit="row", disable=not progress) as bar,
    ):
        batch: list[tuple[Key, Mapping[str, Any], dict[str, Any]]] = []
        for key, row in rows:
            if key in done:
                summary.skipped_done += 1
                continue
            done.add(key)
            batch.append((key, row, build_request(row, processor, f"{key[0]}/{key[1]}")))
            if len(batch) == batch_size:
                bar.update(n := _flush(llm, sampling_params, batch, handle))
                summary.written += n
                batch = []
        if batch:
            bar.update(n := _flush(llm, sampling_params, batch, handle))
            summary.written += n
    return summary


def max_images_per_prompt(paths: Sequence[str | Path]) -> int:
    """The largest number of ``<image>`` placeholders in one prompt (reads only the ``prompt`` column)."""
    most = 1
    for path in paths:
        for prompt in pq.read_table(path, columns=["prompt"]).column("prompt").to_pylist():
            most = max(most, sum(str(m.get("content") or "").count(IMAGE_PLACEHOLDER) for m in prompt or []))
    return most


def load_vllm(
    model: str,
    *,
    tensor_parallel_size: int = 1,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    max_images: int = 1,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = 0.9,
    seed: int = 0,
) -> tuple[TextGenerator, Any, Any]:
    """``(vllm.LLM, processor, greedy SamplingParams)`` for ``model``; :class:`GenerationUnavailable` without vLLM or a GPU."""
    try:
        import vllm
    except ImportError as err:
        raise GenerationUnavailable(
            "`generate` needs vLLM, which is not installed: pip install 'verl[vllm]==0.9.1' on a machine with a "
            "CUDA GPU (generations can be made there and scored anywhere with `score`)"
        ) from err
    import torch

    if not torch.cuda.is_available():
        raise GenerationUnavailable("`generate` needs a CUDA GPU and none is visible (check CUDA_VISIBLE_DEVICES)")
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model)
    options: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": tensor_parallel_size,
        "limit_mm_per_prompt": {"image": max_images},
        "gpu_memory_utilization": gpu_memory_utilization,
        "seed": seed,
    }
    if max_model_len is not None:
        options["max_model_len"] = max_model_len
    llm = vllm.LLM(**options)
    return llm, processor, vllm.SamplingParams(temperature=0.0, max_tokens=max_tokens)


def generate_files(
    model: str,
    data: Sequence[str | Path],
    out_path: str | Path,
    *,
    tensor_parallel_size: int = 1,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    batch_size: int = 256,
    max_model_len: int | None = None,
    gpu_memory_utilization: float = 0.9,
    progress: bool = True,
) -> GenerateSummary:
    """The ``generate`` command: load ``model`` in vLLM and generate for every row of ``data``.

    The inputs are checked before the model is loaded: each parquet needs the columns of
    :data:`~fgrpo_verl.evaluate.inputs.GENERATE_COLUMNS`, and ``out_path`` must not be a directory.
    """
    total = check_parquets(data, GENERATE_COLUMNS)
    check_output(out_path, data)
    llm, processor, sampling = load_vllm(
        model,
        tensor_parallel_size=tensor_parallel_size,
        max_tokens=max_tokens,
        max_images=max_images_per_prompt(data),
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
    )
    return generate(
        llm,
        processor,
        iter_rows(data),
        out_path,
        sampling,
        batch_size=batch_size,
        total=total,
        progress=progress,
    )
