"""Hydra search-path plugin of fgrpo-verl (discovered by Hydra in the ``hydra_plugins`` namespace)."""
