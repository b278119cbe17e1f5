"""Argument checks shared by the config, the maths, the demo settings and every command line, with one wording.

Every failure reads ``{key} must be {requirement}, got {value!r}``, where the requirement states
the type and the whole range at once (``a finite number in [0, 1]``, ``an integer >= 1``), so a
user sees everything the key accepts from one message. ``error`` picks the exception class
(:class:`~fgrpo_verl.config.ConfigError` for config keys, ``ValueError`` elsewhere).

:func:`number_arg` and :func:`integer_arg` are the same checks as ``argparse`` ``type=`` converters
(for ``fgrpo-verl``, ``python -m fgrpo_verl.evaluate``, the ``data_prep`` tools and the benchmarks).
argparse names the flag itself, so their message is ``argument --flag: must be {requirement}, got
{text}`` (the text quoted when it is not a number at all).

``bool`` is refused wherever a number is asked for: ``True`` is an ``int`` to Python, but a flag
in a numeric setting is always a typo. Integer-valued floats are accepted as integers, because
YAML and command-line overrides write ``8.0`` for ``8``; ``2.5`` for a count is refused.
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable
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


def is_finite_real(value: Any) -> bool:
    """True for a finite real number that is not a bool; False (not ``OverflowError``) for an int too
    large for a float, which JSON and YAML readers hand over for a digit run like ``1000…0``."""
    if not _is_real(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number_requirement(value: Any, low: float | None, high: float | None, positive: bool) -> str | None:
    """``None`` when ``value`` is a finite real number in range, else the requirement it misses."""
    if (
        not is_finite_real(value)
        or (positive and not value > 0)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        return _requirement("a finite number", low, high, positive)
    return None


def _integer_requirement(value: Any, low: int | None) -> str | None:
    """``None`` when ``value`` is an integer (not a bool) ``>= low``, else the requirement it misses."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or (low is not None and value < low):
        return _requirement("an integer", low, None, False)
    return None


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
    requirement = _number_requirement(value, low, high, positive)
    if requirement is not None:
        raise error(f"{key} must be {requirement}, got {value!r}")
    return float(value)


def integer(key: str, value: Any, *, low: int | None = None, error: type[ValueError] = ValueError) -> int:
    """``value`` as an int when it is an integer (or an integer-valued float) ``>= low``; else ``error``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    requirement = _integer_requirement(value, low)
    if requirement is not None:
        raise error(f"{key} must be {requirement}, got {value!r}")
    return int(value)


def flag(key: str, value: Any, *, error: type[ValueError] = ValueError) -> bool:
    """``value`` when it is a bool (not 0/1, not "yes"); else ``error``."""
    if not isinstance(value, bool):
        raise error(f"{key} must be true or false, got {value!r}")
    return value


# --------------------------------------------------------------------------- command-line types


def number_arg(
    *, low: float | None = None, high: float | None = None, positive: bool = False
) -> Callable[[str], float]:
    """argparse ``type=``: ``float(text)`` checked as :func:`number` checks it (``nan`` and ``inf`` refused)."""
    return _converter(float, lambda value: _number_requirement(value, low, high, positive))


def integer_arg(*, low: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: ``int(text)`` checked as :func:`integer` checks it; ``8.0`` is refused (counts are whole)."""
    return _converter(int, lambda value: _integer_requirement(value, low))


def _converter(convert: Callable[[str], Any], missed: Callable[[Any], str | None]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None  # not a number at all: refused below, and the text is shown quoted
        requirement = missed(value)
        if requirement is not None:
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text if value is not None else repr(text)}")
        return value

    return parse
