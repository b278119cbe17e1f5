"""One scored sample (a data row joined with its generation), as the aggregation reads it."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class SampleScore:
    """The channels of one data row's generation, plus what the join found.

    ``channels`` is what :func:`fgrpo_verl.rollout_scoring.score_rollout` returned for the response
    (``fgrpo_verl.channels.extra_info_keys()``). ``acc`` is the accuracy used by the metrics: the
    rule's ``channels["acc"]``, replaced by the answer judge's verdict where it was asked, and
    ``None`` where the answer judge failed (the sample's accuracy is then unknown, not wrong).
    A row without a generation is scored as the empty response (``generated=False``).
    """

    data_source: str
    index: int
    channels: dict[str, float]
    acc: float | None
    generated: bool = True
    truncated: bool = False
    circular_id: str = ""
    rotation: int = 0
    num_choices: int = 0
    rotation_mismatch: bool = False
    answer_judged: bool = False
    answer_judge_failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
