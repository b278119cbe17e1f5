"""Circular groups as items: correct only when every rotation of the options is present and right."""

from __future__ import annotations

import pytest

from fgrpo_verl.channels import extra_info_keys
from fgrpo_verl.evaluate.circular import group_items
from fgrpo_verl.evaluate.records import SampleScore


def _sample(index: int, acc: float | None, *, group: str = "", rotation: int = 0, choices: int = 3, generated=True):
    channels = dict.fromkeys(extra_info_keys(), 0.0)
    channels["acc"] = 0.0 if acc is None else acc
    return SampleScore(
        "bench", index, channels, acc, generated=generated, circular_id=group, rotation=rotation, num_choices=choices
    )


@pytest.mark.parametrize(
    ("accs", "expected"),
    [
        ([1.0, 1.0, 1.0], 1.0),  # every rotation right
        ([1.0, 0.0, 1.0], 0.0),  # one rotation wrong
        ([1.0, None, 1.0], None),  # one rotation unknown (answer judge failed), none wrong
        ([0.0, None, 1.0], 0.0),  # a wrong rotation decides, whatever is unknown
    ],
)
def test_group_accuracy_is_the_and_of_its_rotations(accs, expected):
    samples = [_sample(r, acc, group="g", rotation=r) for r, acc in enumerate(accs)]
    (item,) = group_items(samples)
    assert item.acc == expected and not item.incomplete


def test_a_rotation_absent_from_the_data_makes_the_group_wrong_and_incomplete():
    samples = [_sample(0, 1.0, group="g", rotation=0), _sample(1, 1.0, group="g", rotation=2)]
    (item,) = group_items(samples)
    assert item.rotations_absent == 1 and item.incomplete and item.acc == 0.0


def test_a_rotation_without_generation_marks_the_group_incomplete():
    samples = [_sample(r, 1.0 if r else 0.0, group="g", rotation=r, generated=r != 0) for r in range(3)]
    (item,) = group_items(samples)
    assert item.incomplete and item.acc == 0.0


def test_plain_rows_are_items_of_their_own_and_groups_keep_first_seen_order():
    samples = [
        _sample(0, 1.0),
        _sample(1, 1.0, group="g", rotation=0, choices=2),
        _sample(2, 0.0),
        _sample(3, 1.0, group="g", rotation=1, choices=2),
        _sample(4, 1.0, group="h", rotation=0, choices=1),
    ]
    items = group_items(samples)
    assert [[s.index for s in item.samples] for item in items] == [[0], [1, 3], [2], [4]]
    assert [item.acc for item in items] == [1.0, 1.0, 0.0, 1.0]
    assert not any(item.incomplete for item in items)
