"""Evaluation harness (SPEC §5, §7): ``python -m fgrpo_verl.evaluate {generate, score, compare, judge-agreement}``.

Modules, one job each:

- :mod:`~fgrpo_verl.evaluate.generate` — greedy vLLM generations with the training prompt, resumable;
- :mod:`~fgrpo_verl.evaluate.joins` — parquet rows and generations files, joined on ``(data_source, index)``;
- :mod:`~fgrpo_verl.evaluate.scoring` — every row scored by the training's ``score_rollout`` (all channels judged);
- :mod:`~fgrpo_verl.evaluate.answer_judge` — optional model decision for free-form answers;
- :mod:`~fgrpo_verl.evaluate.circular` — items: rows, and circular groups counted once;
- :mod:`~fgrpo_verl.evaluate.metrics` — per-benchmark and average metrics with issue counts;
- :mod:`~fgrpo_verl.evaluate.report` / :mod:`~fgrpo_verl.evaluate.plots` — ``report.md`` and bar charts;
- :mod:`~fgrpo_verl.evaluate.compare` — several runs side by side;
- :mod:`~fgrpo_verl.evaluate.agreement` — judges against human labels (Cohen's κ) and across repeats;
- :mod:`~fgrpo_verl.evaluate.runner` — the ``score`` command end to end.
"""
