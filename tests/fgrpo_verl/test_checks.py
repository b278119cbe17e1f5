"""fgrpo_verl.checks: one wording for every argument check, and the values each check lets through."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

from fgrpo_verl import checks
from fgrpo_verl.config import ConfigError


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: checks.number("x", True), "x must be a finite number, got True"),
        (lambda: checks.number("x", "1.0"), "x must be a finite number, got '1.0'"),
        (lambda: checks.number("x", math.nan, low=0.0), "x must be a finite number >= 0, got nan"),
        (lambda: checks.number("x", math.inf, high=1.0), "x must be a finite number <= 1, got inf"),
        # An int too large for a float (a JSON or YAML digit run) is refused, not an OverflowError.
        (lambda: checks.number("x", 10**400, low=0.0), f"x must be a finite number >= 0, got {10**400!r}"),
        (lambda: checks.number("x", 1.5, low=0.0, high=1.0), r"x must be a finite number in [0, 1], got 1.5"),
        (lambda: checks.number("x", 0.0, positive=True), "x must be a finite number > 0, got 0.0"),
        (lambda: checks.number("x", None, positive=True), "x must be a finite number > 0, got None"),
        (lambda: checks.integer("n", 2.5, low=1), "n must be an integer >= 1, got 2.5"),
        (lambda: checks.integer("n", False), "n must be an integer, got False"),
        (lambda: checks.integer("n", "5", low=0), "n must be an integer >= 0, got '5'"),
        (lambda: checks.integer("n", 0, low=1), "n must be an integer >= 1, got 0"),
        (lambda: checks.flag("f", 1), "f must be true or false, got 1"),
        (lambda: checks.flag("f", "yes"), "f must be true or false, got 'yes'"),
    ],
)
def test_every_refusal_names_the_key_the_requirement_and_the_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_accepted_values_come_back_as_plain_python():
    assert checks.number("x", np.float32(0.5), low=0.0, high=1.0) == 0.5
    assert type(checks.number("x", 3)) is float
    assert checks.integer("n", 8.0, low=1) == 8 and type(checks.integer("n", np.int64(8))) is int
    assert checks.flag("f", False) is False


def test_the_error_class_is_the_callers():
    with pytest.raises(ConfigError, match="fgrpo.eps must be a finite number > 0"):
        checks.number("fgrpo.eps", -1.0, positive=True, error=ConfigError)


# The command-line converters: the same requirement wording; argparse puts "argument --flag: " before it.
@pytest.mark.parametrize(
    ("convert", "text", "message"),
    [
        (checks.integer_arg(low=1), "0", "must be an integer >= 1, got 0"),
        (checks.integer_arg(low=1), "two", "must be an integer >= 1, got 'two'"),
        (checks.integer_arg(low=1), "8.0", "must be an integer >= 1, got '8.0'"),
        (checks.integer_arg(low=0), "-1", "must be an integer >= 0, got -1"),
        (checks.integer_arg(low=0), "", "must be an integer >= 0, got ''"),
        (checks.number_arg(low=0.0, high=1.0), "1.5", "must be a finite number in [0, 1], got 1.5"),
        (checks.number_arg(low=0.0, high=1.0), "nan", "must be a finite number in [0, 1], got nan"),
        (checks.number_arg(low=0.0, high=1.0), "-0.01", "must be a finite number in [0, 1], got -0.01"),
        (checks.number_arg(low=0.0), "-inf", "must be a finite number >= 0, got -inf"),
        (checks.number_arg(low=0.0), "1e999", "must be a finite number >= 0, got 1e999"),
        (checks.number_arg(positive=True), "0", "must be a finite number > 0, got 0"),
        (checks.number_arg(positive=True), "1,5", "must be a finite number > 0, got '1,5'"),
    ],
)
def test_command_line_refusals_use_the_same_wording(convert, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as err:
        convert(text)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("convert", "text", "value"),
    [
        (checks.integer_arg(low=1), "1", 1),
        (checks.integer_arg(low=1), " 12 ", 12),
        (checks.integer_arg(low=0), "0", 0),
        (checks.integer_arg(), "-3", -3),
        (checks.number_arg(low=0.0, high=1.0), "0", 0.0),
        (checks.number_arg(low=0.0, high=1.0), "1", 1.0),
        (checks.number_arg(low=0.0), "0", 0.0),
        (checks.number_arg(positive=True), "1e-9", 1e-9),
    ],
)
def test_command_line_bounds_are_inclusive_where_the_requirement_says_so(convert, text, value):
    parsed = convert(text)
    assert parsed == value and type(parsed) is type(value)


def test_a_parser_names_the_flag_before_the_requirement(capsys):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--max-reject-share", type=checks.number_arg(low=0.0, high=1.0))
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--max-reject-share", "2"])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("error: argument --max-reject-share: must be a finite number in [0, 1], got 2")
    )
