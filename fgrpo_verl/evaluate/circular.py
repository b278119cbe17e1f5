"""Items: what a benchmark counts. A plain row is one item; a circular group is one item.

Circular evaluation (SAT-Real, and any row with a non-empty ``extra_info.circular_id``): a
question with ``n`` options is asked ``n`` times, rotation ``r = 0..n-1`` showing the options
shifted by ``r``. The group is one item, correct only when every rotation is:

    acc(item) = 1  if all n rotations are present and each has acc = 1
                0  if a rotation is missing (no data row, or no generation) or any has acc = 0
                unknown (None)  otherwise, i.e. when the answer judge failed on a rotation

A rotation without a generation is scored as the empty response (acc 0), so it already makes the
item wrong; a rotation absent from the data (the group has fewer than ``n`` rows) does too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fgrpo_verl.evaluate.records import SampleScore


@dataclasses.dataclass
class Item:
    """One counted item of a benchmark: one row, or the rows of one circular group."""

    data_source: str
    samples: list[SampleScore]
    circular_id: str = ""
    #: Rotations ``0..n-1`` that no data row of the group holds (always 0 for plain rows).
    rotations_absent: int = 0

    @property
    def circular(self) -> bool:
        return bool(self.circular_id)

    @property
    def incomplete(self) -> bool:
        """A circular group with a rotation missing from the data or without a generation."""
        return self.circular and (self.rotations_absent > 0 or any(not s.generated for s in self.samples))

    @property
    def acc(self) -> float | None:
        """1.0 / 0.0, or ``None`` when unknown (see the module docstring)."""
        values = [s.acc for s in self.samples]
        if self.rotations_absent or 0.0 in values:
            return 0.0
        if None in values:
            return None
        return float(all(v == 1.0 for v in values))


def group_items(samples: Iterable[SampleScore]) -> list[Item]:
    """Items in first-seen order: every plain sample alone, circular samples grouped by ``(data_source, circular_id)``.

    A group's expected rotations are ``0..n-1`` with ``n`` the largest option count among its rows.
    """
    items: list[Item] = []
    groups: dict[tuple[str, str], Item] = {}
    for sample in samples:
        if not sample.circular_id:
            items.append(Item(sample.data_source, [sample]))
            continue
        key = (sample.data_source, sample.circular_id)
        if key not in groups:
            groups[key] = Item(sample.data_source, [], circular_id=sample.circular_id)
            items.append(groups[key])
        groups[key].samples.append(sample)
    for item in groups.values():
        expected = max(max(s.num_choices for s in item.samples), 1)
        present = {s.rotation for s in item.samples}
        item.rotations_absent = len(set(range(expected)) - present)
    return items
