"""Faithful GRPO (FGRPO) for verl: constrained advantages, dual ascent, judges and evaluation."""

__version__ = "0.1.0"
