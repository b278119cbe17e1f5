"""fgrpo_verl.plugin: `import verl` in a fresh process loads it once; more imports never register twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys

    def hooks():
        return sum(1 for f in sys.meta_path if getattr(f, "_fgrpo_verl_after_import", False) and f.target == "verl.trainer.ppo.v1")

    def copy_of(module, name):
        spec = importlib.util.spec_from_file_location(name, module.__file__)
        copy = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(copy)

    import verl

    out = {"loaded_by_import_verl": "fgrpo_verl.plugin" in sys.modules, "v1_imported": "verl.trainer.ppo.v1" in sys.modules}
    out["hooks"] = hooks()
    import fgrpo_verl.plugin as plugin
    copy_of(plugin, "fgrpo_plugin_second_name")
    out["hooks_after_second_name"] = hooks()

    from verl.trainer.ppo.v1 import get_trainer_cls, trainer_base
    selector = get_trainer_cls("sync")
    out["selector"] = selector.__module__ + "." + selector.__qualname__
    out["hooks_after_v1"] = hooks()
    copy_of(plugin, "fgrpo_plugin_third_name")
    out["same_selector_after_third_name"] = trainer_base.TRAINER_REGISTRY["sync"] is selector
    out["registry"] = sorted(trainer_base.TRAINER_REGISTRY)
    print("RESULT " + json.dumps(out))
    """
)


def test_the_entry_point_names_the_plugin_once():
    found = [ep for ep in entry_points(group="verl.plugins") if ep.value.startswith("fgrpo_verl")]
    assert [(ep.name, ep.value) for ep in found] == [("fgrpo", "fgrpo_verl.plugin")]


# FGRPOTrainer's module imports verl's V1 trainers itself, so the plugin's hook fires in the middle
# of that import; the selector must still be registered.
TRAINER_FIRST = textwrap.dedent(
    """
    import json, logging, sys
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    from fgrpo_verl.trainer import FGRPOTrainer
    from verl.trainer.ppo.v1 import get_trainer_cls
    selector = get_trainer_cls("sync")
    print("RESULT " + json.dumps(selector.__module__ + "." + selector.__qualname__))
    """
)


def _result(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    assert "could not register" not in proc.stdout + proc.stderr
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def fresh_processes(tmp_path_factory):
    """Both scripts in fresh interpreters, concurrently (each spends its time importing verl)."""
    cwd = tmp_path_factory.mktemp("plugin")
    # Also list the plugin in VERL_USE_EXTERNAL_MODULES, as the cluster launcher does: verl then
    # imports it by two mechanisms in the same process.
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="fgrpo_verl.plugin")
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, script in (("verl_first", SCRIPT), ("trainer_first", TRAINER_FIRST))
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return results


def test_import_verl_in_a_fresh_process_loads_the_plugin_once_and_registers_once(fresh_processes):
    out = _result(fresh_processes["verl_first"])
    assert out == {
        "loaded_by_import_verl": True,
        "v1_imported": False,  # the plugin itself does not pull in verl's trainers
        "hooks": 1,
        "hooks_after_second_name": 1,
        "selector": "fgrpo_verl.trainer_selector.SyncTrainerSelector",
        "hooks_after_v1": 0,
        "same_selector_after_third_name": True,
        "registry": ["colocate_async", "separate_async", "sync"],
    }


def test_importing_the_fgrpo_trainer_first_still_registers_the_selector(fresh_processes):
    assert _result(fresh_processes["trainer_first"]) == "fgrpo_verl.trainer_selector.SyncTrainerSelector"
