"""The streaming parquet writer every builder, mix and filter writes through, and the prompt-token estimate.

:class:`RowWriter` validates each row (:func:`data_prep.schema.validate_row`), writes row groups, records
rejects in ``<out>.rejects.jsonl`` and counts prompts over a token budget; :class:`TooManyRejects` is what
makes a build fail.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.readers import SourceError
from data_prep.schema import IMAGE_PLACEHOLDER, ROW_SCHEMA, RowRejected, SpatialItem, validate_row
from fgrpo_verl.image_budget import MAX_PIXELS, MIN_PIXELS

logger = logging.getLogger(__name__)


class TooManyRejects(RuntimeError):
    """Raised by :meth:`RowWriter.close` when the rejected share exceeds ``max_reject_share``."""

    def __init__(self, summary: WriteSummary) -> None:
        super().__init__(
            f"{summary.num_rejected} of {summary.num_rejected + summary.written} source rows rejected "
            f"(share {summary.reject_share:.3f} > max {summary.max_reject_share}); "
            f"see {summary.reject_path}"
        )
        self.summary = summary


TEMPLATE_TOKENS = 24  # Qwen2.5-VL chat template around one user turn: system prompt and role markers
CHARS_PER_TOKEN = 4  # rough English text rate of the Qwen2.5 vocabulary when no tokenizer is given


def estimate_prompt_tokens(
    row: Mapping[str, Any],
    tokenizer: Any = None,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
    factor: int = 28,
) -> int:
    """Prompt length of ``row`` in tokens, as Qwen2.5-VL will see it.

    ``tokens = text + Σ_images [(h'/factor)·(w'/factor) + 2] + TEMPLATE_TOKENS`` where
    ``(h', w') = smart_resize(h, w, factor, min_pixels, max_pixels)``: each ``factor``-sized block of
    the resized image is one ``<|image_pad|>`` token (14 px patches merged 2x2), plus the vision
    start/end markers. Text tokens are counted with ``tokenizer`` when given, else estimated as
    ``ceil(chars / CHARS_PER_TOKEN)``. Pass the same pixel bounds as the training processor.
    """
    # The project's copy of Qwen2.5-VL's resize rule (the one rewards use for the box frame), imported
    # here because the reward package pulls in torch.
    from reward_fns import smart_resize

    text = "".join(m["content"] for m in row["prompt"]).replace(IMAGE_PLACEHOLDER, "")
    if tokenizer is not None:
        text_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    else:
        text_tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
    image_tokens = 0
    for width, height in row["extra_info"]["image_sizes"]:
        h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        image_tokens += (h // factor) * (w // factor) + 2
    return text_tokens + image_tokens + TEMPLATE_TOKENS


# --------------------------------------------------------------------------- writer


def prepare_output(*paths: str | os.PathLike) -> None:
    """Create the folders of output files; :class:`~data_prep.readers.SourceError` (one line naming the path)
    when one is a directory or its folder cannot be created. Tools call it before any work, because a
    directory would otherwise fail only at the final rename, after the whole build."""
    for path in map(Path, paths):
        if path.is_dir():
            raise SourceError(f"{path} is a directory (expected the path of the file to write)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceError(f"{path}: cannot create its folder ({exc.strerror or exc})") from exc


@dataclasses.dataclass
class WriteSummary:
    """What a :class:`RowWriter` wrote: counts, reject reasons and prompts over the token budget."""

    out_path: str
    reject_path: str
    written: int
    rejected: dict[str, int]
    max_reject_share: float
    token_budget: int | None
    over_budget: int
    over_budget_examples: list[str]
    max_prompt_tokens: int | None

    @property
    def num_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def reject_share(self) -> float:
        total = self.written + self.num_rejected
        return self.num_rejected / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["num_rejected"] = self.num_rejected
        out["reject_share"] = self.reject_share
        return out


class RowWriter:
    """Validate rows and stream them into one parquet file in row groups; rejects go to a JSONL file.

    Rows are buffered ``row_group_size`` at a time and written with ``pyarrow.parquet.ParquetWriter``,
    so memory holds at most one row group whatever the number of rows. The file is written as
    ``<out>.partial`` and renamed on :meth:`close`, so a crashed build never leaves a plausible output.
    ``extra_info.index`` is the running count of written rows (unique within the file).
    """

    EXAMPLES_KEPT = 20

    def __init__(
        self,
        out_path: str | os.PathLike,
        reject_path: str | os.PathLike | None = None,
        max_reject_share: float = 0.05,
        row_group_size: int = 256,
        token_budget: int | None = None,
        tokenizer: Any = None,
        min_pixels: int = MIN_PIXELS,
        max_pixels: int = MAX_PIXELS,
        factor: int = 28,
    ) -> None:
        if not 0.0 <= max_reject_share <= 1.0:
            raise ValueError(f"max_reject_share must be in [0, 1], got {max_reject_share}")
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.out_path = Path(out_path)
        self.reject_path = (
            Path(reject_path) if reject_path else self.out_path.with_name(self.out_path.name + ".rejects.jsonl")
        )
        self.max_reject_share = max_reject_share
        self.row_group_size = row_group_size
        self.token_budget = token_budget
        self._token_args = {
            "tokenizer": tokenizer,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
            "factor": factor,
        }
        prepare_output(self.out_path, self.reject_path)
        self._partial = self.out_path.with_name(self.out_path.name + ".partial")
        try:
            self._writer = pq.ParquetWriter(self._partial, ROW_SCHEMA)
        except OSError as exc:
            raise SourceError(f"{self.out_path}: cannot write here ({exc.strerror or exc})") from exc
        try:
            self._rejects = open(self.reject_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            self._writer.close()
            self._partial.unlink(missing_ok=True)
            raise SourceError(f"{self.reject_path}: cannot write here ({exc.strerror or exc})") from exc
        self._buffer: list[dict[str, Any]] = []
        self._rejected: Counter[str] = Counter()
        self._written = 0
        self._over_budget = 0
        self._over_examples: list[str] = []
        self._max_tokens: int | None = None
        self._closed = False

    @property
    def written(self) -> int:
        return self._written

    def add(
        self, item: SpatialItem | Mapping[str, Any] | BaseException, source_id: str = "", keep_index: bool = False
    ) -> bool:
        """Validate and buffer one item or existing row; record a reject. True if written.

        An existing row is re-indexed with the running count unless ``keep_index`` (a subset of one
        file keeps its indices, which stay unique).
        """
        if self._closed:
            raise RuntimeError(f"RowWriter for {self.out_path} is closed")
        try:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, SpatialItem):
                row = item.to_row(self._written)
            else:
                row = dict(item)
                if not keep_index:
                    row["extra_info"] = {**row["extra_info"], "index": self._written}
            validate_row(row)
        except RowRejected as exc:
            self._reject(source_id, exc.reason, exc.detail)
            return False
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except Exception as exc:  # a builder bug or malformed source record: counted, never silent
            self._reject(source_id, "builder_error", f"{type(exc).__name__}: {exc}")
            return False
        if self.token_budget is not None:
            self._count_tokens(row, source_id)
        self._buffer.append(row)
        self._written += 1
        if len(self._buffer) >= self.row_group_size:
            self._flush()
        return True

    def _reject(self, source_id: str, reason: str, detail: str) -> None:
        self._rejected[reason] += 1
        record = {"source_id": str(source_id), "reason": reason, "detail": detail}
        self._rejects.write(json.dumps(record) + "\n")
        logger.debug("rejected %s: %s %s", source_id, reason, detail)

    def _count_tokens(self, row: Mapping[str, Any], source_id: str) -> None:
        tokens = estimate_prompt_tokens(row, **self._token_args)
        self._max_tokens = tokens if self._max_tokens is None else max(self._max_tokens, tokens)
        if tokens > self.token_budget:
            self._over_budget += 1
            if len(self._over_examples) < self.EXAMPLES_KEPT:
                self._over_examples.append(f"{source_id or row['extra_info']['index']}:{tokens}")

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=ROW_SCHEMA))
            self._buffer = []

    def summary(self) -> WriteSummary:
        return WriteSummary(
            out_path=str(self.out_path),
            reject_path=str(self.reject_path),
            written=self._written,
            rejected=dict(sorted(self._rejected.items())),
            max_reject_share=self.max_reject_share,
            token_budget=self.token_budget,
            over_budget=self._over_budget,
            over_budget_examples=list(self._over_examples),
            max_prompt_tokens=self._max_tokens,
        )

    def abort(self) -> None:
        """Close the files without publishing the output (the ``.partial`` file is removed)."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._rejects.close()
        self._partial.unlink(missing_ok=True)

    def close(self) -> WriteSummary:
        """Flush, publish the parquet file, and return the summary; raise :class:`TooManyRejects` if needed.

        The output is published even when too many rows were rejected (its rows are valid), so the
        rejects can be inspected next to it; the exception is what makes the build fail.
        """
        if not self._closed:
            self._flush()
            self._writer.close()
            self._rejects.close()
            os.replace(self._partial, self.out_path)
            self._closed = True
        summary = self.summary()
        if summary.token_budget is not None and summary.over_budget:
            logger.warning(
                "%d prompts exceed the token budget of %d (max %s), e.g. %s",
                summary.over_budget,
                summary.token_budget,
                summary.max_prompt_tokens,
                ", ".join(summary.over_budget_examples[:5]),
            )
        if summary.reject_share > self.max_reject_share:
            raise TooManyRejects(summary)
        return summary

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
