"""CV-Bench 3D tasks only -> verl parquet: ``python -m data_prep.cvbench --subset 3d`` (mapping in ``data_prep.cvbench``).

python -m data_prep.cvbench_3d --out cvbench_3d.parquet [--source nyu-visionx/CV-Bench | DIR | FILE] [--split test] [--limit N]

From a local snapshot it reads ``test_3d.parquet`` (images embedded), else ``test_3d.jsonl`` with ``img/``,
falling back to the parquet when ``img/`` is missing (file order in ``data_prep.cvbench``).
"""

from __future__ import annotations

import sys

from data_prep import cvbench


def main(argv: list[str] | None = None) -> int:
    return cvbench.main(["--subset", "3d", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
