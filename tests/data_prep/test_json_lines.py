"""data_prep.readers.json_line_values: the one JSONL line reader behind data_prep and the evaluation.

One bad line costs that line only; its reason is ``bad_encoding`` or ``bad_json`` in both callers, and
the callers keep their own rule for the value (data_prep wants objects, the evaluation checks fields later).
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.readers import Unreadable, collecting_unreadable, iter_jsonl, json_line_values
from fgrpo_verl.evaluate.inputs import Reject, iter_json_lines


def _read(data: bytes) -> list[tuple[int, object]]:
    return list(json_line_values(io.BytesIO(data), "f.jsonl"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1}\n[1, 2]\n"text"\n5\nnull\n', [(1, {"a": 1}), (2, [1, 2]), (3, "text"), (4, 5), (5, None)]),
        (b'\xef\xbb\xbf{"a": 1}\r\n\r\n  \t\n{"b": 2}', [(1, {"a": 1}), (4, {"b": 2})]),
        (b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n', [(1, {"a": 1}), (2, ("bad_json", "f.jsonl:2"))]),
        (b'{"a": "\xff\xfe"}\n{"b": 2}\n', [(1, ("bad_encoding", "f.jsonl:1")), (2, {"b": 2})]),
        (b'{"a": 1}\n{"b": "cut o', [(1, {"a": 1}), (2, ("bad_json", "f.jsonl:2"))]),
        (b"[" * 100_000 + b'\n{"b": 2}\n', [(1, ("bad_json", "f.jsonl:1")), (2, {"b": 2})]),
        (b'{"a": 1} {"b": 2}\n', [(1, ("bad_json", "f.jsonl:1"))]),
        (b"", []),
    ],
    ids=[
        "any JSON value",
        "BOM, CRLF, blank lines",
        "BOM after line 1",
        "bad byte",
        "truncated",
        "too deep",
        "two values",
        "empty",
    ],
)
def test_each_line_is_a_value_or_one_unreadable(data, expected):
    got = [(n, (v.reason, v.where) if isinstance(v, Unreadable) else v) for n, v in _read(data)]
    assert got == expected


def test_an_unreadable_line_says_what_is_wrong_with_it():
    (_, encoding), (_, truncated) = _read(b'"\xc3("\n{"a": \n')
    assert encoding.detail == "not UTF-8 text (invalid continuation byte at byte 1: b'\\xc3')"
    assert truncated.detail == "not a JSON line (Expecting value, column 7)"


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_DAMAGE = st.sampled_from([b"\xff", b"{", b'"open', b"nope", b"1 2"])


@given(st.lists(_VALUES, min_size=1, max_size=8), st.data())
def test_a_damaged_line_costs_that_line_only(values, data):
    lines = [json.dumps(v, ensure_ascii=False).encode() for v in values]
    bad = data.draw(st.integers(0, len(lines) - 1))
    lines[bad] = lines[bad] + data.draw(_DAMAGE)
    got = dict(_read(b"\n".join(lines) + b"\n"))
    assert isinstance(got.pop(bad + 1), Unreadable)
    assert got == {i + 1: v for i, v in enumerate(values) if i != bad}


def test_both_callers_read_a_file_alike_and_keep_their_own_rule_for_values(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_bytes(b'{"a": 1}\n"text"\n{"b": "\xff"}\n{"c": \n')
    evaluation = list(iter_json_lines(path))
    assert evaluation[:2] == [(1, {"a": 1}), (2, "text")]  # any JSON value: the fields are checked later
    rejects = [r for _, r in evaluation[2:]]
    assert all(isinstance(r, Reject) for r in rejects)
    with collecting_unreadable() as log:
        assert list(iter_jsonl(path)) == [(1, {"a": 1})]  # data_prep wants JSON objects
    notes = log.take()
    assert [(u.where, u.reason) for u in notes] == [
        (f"{path}:2", "not_a_record"),
        (f"{path}:3", "bad_encoding"),
        (f"{path}:4", "bad_json"),
    ]
    assert [(r.where, r.reason, r.detail) for r in rejects] == [(u.where, u.reason, u.detail) for u in notes[1:]]
