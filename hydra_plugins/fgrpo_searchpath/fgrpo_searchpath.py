"""Puts the FGRPO recipe configs on every Hydra app's search path.

With this plugin installed, ``python -m verl.trainer.main_ppo +recipe=fgrpo`` finds
``recipe/fgrpo.yaml`` (and the ablation variants ``recipe/fgrpo_*.yaml``) without a
``hydra.searchpath`` flag. Hydra imports every module of the ``hydra_plugins`` namespace package
when it starts, so this module imports nothing but Hydra.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

#: The package whose folder holds the ``recipe`` config group (``recipe/fgrpo/config/recipe/*.yaml``).
RECIPE_CONFIG_PATH = "pkg://recipe.fgrpo.config"


class FGRPOSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="fgrpo-verl", path=RECIPE_CONFIG_PATH)
