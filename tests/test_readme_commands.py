"""The README's two front-door commands are what CI runs (``.ci/run``), step for step.

A user copies one line from the README's quick start; CI runs ``.ci/run``. If the two drift apart,
the README's command is no longer the one that is tested.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ci_steps() -> list[str]:
    """The commands of ``.ci/run`` that set up and test, with its temporary venv path named ``.venv``."""
    steps = []
    for line in (REPO / ".ci" / "run").read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith(("set ", "cd ", "venv=")):
            continue
        line = line.replace('"$venv/bin/activate"', ".venv/bin/activate").replace('"$venv"', ".venv")
        steps.append(" ".join(word for word in line.split() if word != "--quiet"))
    return steps


def _quick_start_commands() -> list[list[str]]:
    """The bash blocks of the README's quick start, each split at ``&&``."""
    readme = (REPO / "README.md").read_text("utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [[step.strip() for step in block.strip().split("&&")] for block in blocks]


def test_ci_runs_setup_lint_and_tests():
    steps = _ci_steps()
    assert steps[-2:] == ["ruff check .", "python -m pytest"], steps


def test_readme_test_command_is_the_ci_run():
    commands = _quick_start_commands()
    assert _ci_steps() in commands, f"no quick-start command equals .ci/run's steps {_ci_steps()}: {commands}"


def test_readme_demo_command_installs_as_ci_does_then_runs_the_demo():
    install = _ci_steps()[:-2]
    demo = [command for command in _quick_start_commands() if command[-1].startswith("fgrpo-verl demo")]
    assert demo, "the quick start has no demo command"
    assert demo[0][:-1] == install, f"{demo[0][:-1]} != {install}"
