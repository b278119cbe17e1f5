"""The CPU demo and simulator behind ``fgrpo-verl demo`` and ``fgrpo-verl simulate``.

A simulated policy (a softmax over reasoning styles per question type) answers synthetic spatial
questions; every response text is written from the question's scene graph and scored by the reward
manager's own scoring code with the offline rule judge; the advantage and the dual ascent are the
project's real code. Modules, in pipeline order:

- :mod:`~fgrpo_verl.demo.items` — synthetic dataset, parsed rows;
- :mod:`~fgrpo_verl.demo.styles` — response text per reasoning style;
- :mod:`~fgrpo_verl.demo.scoring` — every variant scored once (the table training samples from);
- :mod:`~fgrpo_verl.demo.policy` — the style policy and its REINFORCE step;
- :mod:`~fgrpo_verl.demo.simulator` — one training run;
- :mod:`~fgrpo_verl.demo.pipeline`, :mod:`~fgrpo_verl.demo.report`, :mod:`~fgrpo_verl.demo.plots` — the demo;
- :mod:`~fgrpo_verl.demo.sweep` — the τ / η / λ_max sweep.
"""
