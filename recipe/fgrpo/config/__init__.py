"""Hydra configs of the FGRPO recipe (a package so that ``pkg://recipe.fgrpo.config`` resolves)."""
