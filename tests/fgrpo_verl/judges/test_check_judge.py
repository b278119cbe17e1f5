"""``fgrpo-verl check-judge`` against real loopback servers: dead port, wrong model, bad key, garbage, good."""

from __future__ import annotations

import asyncio
import socket

import pytest

from fgrpo_verl.cli import main
from fgrpo_verl.judges.health import check_endpoint
from fgrpo_verl.judges.redaction import redact_url
from tests.support.loopback_server import LoopbackJudgeServer

KEY = "sk-check-7d1e2f3a-never-print-me"
KEY_ENV = "FGRPO_TEST_CHECK_KEY"


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens once the socket is closed


def _check(url: str, model: str, key: str | None = None) -> list[str]:
    return asyncio.run(check_endpoint(url, model, key, api_key_env=KEY_ENV, connect_timeout_s=2.0, timeout_s=5.0))


def _cli(capsys, monkeypatch, *args: str, key: str | None = None) -> tuple[int, list[str]]:
    if key is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, key)
    code = main(["check-judge", *args, "--api-key-env", KEY_ENV, "--timeout", "5"])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out.splitlines()


@pytest.fixture(scope="module")
def strict():
    """Like a vLLM server started with --api-key: checks the key and the model name."""
    with LoopbackJudgeServer(model="judge-7b", api_key=KEY, strict_model=True) as server:
        yield server


def test_a_good_endpoint_passes_with_exit_0(strict, capsys, monkeypatch) -> None:
    assert _check(strict.url, "judge-7b", KEY) == []
    strict.reset_counters()
    code, lines = _cli(capsys, monkeypatch, "--url", strict.url, "--model", "judge-7b", key=KEY)
    assert code == 0 and lines == [
        f"check-judge: {strict.url}: ok (serves 'judge-7b', consistency and grounding judged)"
    ]
    # One consistency and one grounding request really went out, the grounding one with an image.
    assert strict.requests == 2
    content = strict.last_payload["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in content)


def test_a_dead_port_is_unreachable(capsys, monkeypatch) -> None:
    url = _dead_url()
    (problem,) = _check(url, "judge-7b")
    assert problem.startswith(f"{url}: unreachable (") and "Connect" in problem
    code, lines = _cli(capsys, monkeypatch, "--url", url, "--model", "judge-7b")
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"check-judge: {url}: unreachable")


def test_a_wrong_model_name_lists_what_is_served(strict) -> None:
    (problem,) = _check(strict.url, "judge-70b", KEY)
    assert problem == (
        f"{strict.url}: does not serve model 'judge-70b'; it serves: judge-7b (set fgrpo.judge.model / --model)"
    )


def test_a_wrong_or_missing_key_is_an_auth_problem_and_the_key_is_never_printed(strict, capsys, monkeypatch) -> None:
    (problem,) = _check(strict.url, "judge-7b", "sk-wrong")
    assert problem == f"{strict.url}: refused the API key from ${KEY_ENV} (HTTP 401)"
    (problem,) = _check(strict.url, "judge-7b", None)
    assert problem == f"{strict.url}: wants an API key (HTTP 401) and ${KEY_ENV} is not set"
    code, lines = _cli(capsys, monkeypatch, "--url", strict.url, "--model", "judge-7b", key="sk-wrong-" + KEY)
    assert code == 1 and len(lines) == 1 and KEY not in lines[0] and "refused the API key" in lines[0]


def test_garbage_replies_fail_the_judge_request_with_the_reply_quoted() -> None:
    with LoopbackJudgeServer(behaviours=["garbage"], cycle=True) as server:
        url = server.url
        problems = _check(url, server.model)
    assert len(problems) == 2
    consistency, grounding = problems
    assert consistency.startswith(f"{url}: the consistency request got no valid label: ")
    assert "Lorem ipsum" in consistency
    assert grounding.startswith(f"{url}: the grounding request (with an image) got no valid label")


def test_a_server_error_names_the_status() -> None:
    with LoopbackJudgeServer(behaviours=["http_500"], cycle=True) as server:
        problems = _check(server.url, server.model)
    assert problems and all("HTTP 500" in p for p in problems)


def test_every_endpoint_is_reported_one_line_each(strict, capsys, monkeypatch) -> None:
    dead = _dead_url()
    code, lines = _cli(capsys, monkeypatch, "--url", dead, strict.url, "--model", "judge-7b", key=KEY)
    assert code == 1 and len(lines) == 2
    assert lines[0].startswith(f"check-judge: {dead}: unreachable")
    assert lines[1].startswith(f"check-judge: {strict.url}: ok")


@pytest.mark.parametrize("live", [False, True], ids=["dead port", "live server"])
def test_credentials_in_a_url_are_refused_before_any_request_and_never_printed(strict, capsys, live) -> None:
    # As fgrpo.judge.urls refuses them: one usage line, never a traceback, the secrets not repeated.
    base = strict.url if live else _dead_url()
    url = base.replace("http://", "http://user:hunter2@") + "?token=abc123"
    with pytest.raises(SystemExit) as exit_info:
        main(["check-judge", "--url", url, "--model", "judge-7b"])
    out = capsys.readouterr()
    assert exit_info.value.code == 2 and "Traceback" not in out.err
    assert "carries credentials in the URL" in out.err and len(out.err.strip().splitlines()) == 1
    assert "hunter2" not in out.out + out.err and "abc123" not in out.out + out.err
    assert redact_url("https://u:p@judge:8443/v1?key=s#f") == "https://***@judge:8443/v1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "judge0:8000/v1", "--model", "m"], "--url must start with http:// or https://"),
        (["--url", "http://judge0:8000/v1", "--model", ""], "--model must name the model the judge serves"),
        (["--url", "http://judge0:8000/v1", "--model", "m", "--timeout", "nan"], "argument --timeout: must be"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check-judge", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
