"""Argument checks shared by the config, the maths and the demo settings, with one wording.

Every failure reads ``{key} must be {requirement}, got {value!r}``, where the requirement states
the type and the whole range at once (``a finite number in [0, 1]``, ``an integer >= 1``), so a
user sees everything the key accepts from one message. ``error`` picks the exception class
(:class:`~fgrpo_verl.config.ConfigError` for config keys, ``ValueError`` elsewhere).

``bool`` is refused wherever a number is asked for: ``True`` is an ``int`` to Python, but a flag
in a numeric setting is always a typo. Integer-valued floats are accepted as integers, because
YAML and command-line overrides write ``8.0`` for ``8``; ``2.5`` for a count is refused.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def _fmt(bound: float) -> str:
    return f"{bound:g}"


def _requirement(kind: str, low: float | None, high: float | None, positive: bool) -> str:
    if positive:
        return f"{kind} > 0" if high is None else f"{kind} in (0, {_fmt(high)}]"
    if low is not None and high is not None:
        return f"{kind} in [{_fmt(low)}, {_fmt(high)}]"
    if low is not None:
        return f"{kind} >= {_fmt(low)}"
    if high is not None:
        return f"{kind} <= {_fmt(high)}"
    return kind


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
    error: type[ValueError] = ValueError,
) -> float:
    """``value`` as a float when it is a finite real number with ``low <= value <= high``
    (``0 < value`` when ``positive``); otherwise ``error`` naming ``key``."""
    if (
        not _is_real(value)
        or not math.isfinite(value)
        or (positive and not value > 0)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise error(f"{key} must be {_requirement('a finite number', low, high, positive)}, got {value!r}")
    return float(value)


def integer(key: str, value: Any, *, low: int | None = None, error: type[ValueError] = ValueError) -> int:
    """``value`` as an int when it is an integer (or an integer-valued float) ``>= low``; else ``error``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or (low is not None and value < low):
        raise error(f"{key} must be {_requirement('an integer', low, None, False)}, got {value!r}")
    return int(value)


def flag(key: str, value: Any, *, error: type[ValueError] = ValueError) -> bool:
    """``value`` when it is a bool (not 0/1, not "yes"); else ``error``."""
    if not isinstance(value, bool):
        raise error(f"{key} must be true or false, got {value!r}")
    return value
