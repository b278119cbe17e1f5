"""Judge credentials never reach a log, an error or an output file — even from a server that echoes them."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fgrpo_verl.config import ConfigError, JudgeConfig
from fgrpo_verl.evaluate.__main__ import main
from fgrpo_verl.judges import OpenAIJudge
from fgrpo_verl.judges.redaction import MASK, check_judge_url, redact, redact_url
from tests.support.loopback_server import LoopbackJudgeServer

# Long enough that a 200-character cut of an echoed header ends inside it.
LONG_KEY = "sk-proj-" + "".join(f"{i:03d}Zq" for i in range(60))
PASSWORD = "hunter2-Secret-pw"


def _fragments(secret: str) -> list[str]:
    """Pieces of ``secret`` that would still identify it."""
    return [secret, secret[:16], secret[8:24], secret[-16:]]


def test_redact_masks_the_whole_key_and_a_cut_off_echo_of_it() -> None:
    text = f"Authorization=Bearer {LONG_KEY}; again {LONG_KEY[:140]}"
    cleaned = redact(text, LONG_KEY)
    assert not any(piece in cleaned for piece in _fragments(LONG_KEY))
    assert cleaned.count(MASK) >= 2


def test_redact_masks_bearer_and_basic_values_it_was_not_told_about() -> None:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    cleaned = redact(f"headers: {{'Authorization': 'Basic {basic}'}} and Bearer other-token-123 and x://u:{PASSWORD}@h")
    assert basic not in cleaned and "other-token-123" not in cleaned and PASSWORD not in cleaned
    assert "Basic <redacted>" in cleaned and "Bearer <redacted>" in cleaned


@pytest.mark.parametrize(
    "url", [f"http://alice:{PASSWORD}@judge:8000/v1", f"https://{PASSWORD}@judge/v1", f"ftp://alice:{PASSWORD}@judge"]
)
def test_urls_with_credentials_are_refused_without_repeating_them(url: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_judge_url(url, "judge url")
    assert PASSWORD not in str(refused.value) and "***@judge" in str(refused.value)
    with pytest.raises(ConfigError) as config_refused:
        JudgeConfig.from_dict({"urls": [url]})
    assert PASSWORD not in str(config_refused.value) and "fgrpo.judge.urls[0]" in str(config_refused.value)
    with pytest.raises(ValueError) as client_refused:
        OpenAIJudge(url, "m")
    assert PASSWORD not in str(client_refused.value)
    assert redact_url(url).count("***@") == 1


@pytest.mark.parametrize(
    "url", [f"http://judge:8000/v1?api_key={PASSWORD}", f"http://judge:8000/v1#{PASSWORD}", "http://judge/v1?"]
)
def test_urls_with_a_query_or_fragment_are_refused_without_repeating_them(url: str) -> None:
    # A token there was logged with every failed request ("http://judge:8000/v1?api_key=…/chat/completions").
    for make in (lambda: check_judge_url(url, "judge url"), lambda: JudgeConfig.from_dict({"urls": [url]})):
        with pytest.raises(ValueError) as refused:
            make()
        assert "query string or fragment" in str(refused.value) and PASSWORD not in str(refused.value)
    with pytest.raises(ValueError):
        OpenAIJudge(url, "m")


def _generations(parquet: str, path: Path, rows: int) -> None:
    lines = []
    for row in pq.read_table(parquet).slice(0, rows).to_pylist():
        extra = row["extra_info"]
        answer = extra["answer"]
        think = f"The red circle is on the left of the image. So the answer is ({answer})."
        response = f"<think>{think}</think><answer>{answer}</answer>"
        lines.append(json.dumps({"index": extra["index"], "data_source": row["data_source"], "response": response}))
    path.write_text("\n".join(lines) + "\n")


def _everything_written(out: Path) -> str:
    return "\n".join(p.read_text("utf-8", errors="replace") for p in sorted(out.rglob("*")) if p.is_file())


def test_echoed_key_is_absent_from_logs_errors_and_output_files(
    synthetic_parquet, tmp_path, monkeypatch, caplog, capsys
) -> None:
    monkeypatch.setenv("FGRPO_JUDGE_API_KEY", LONG_KEY)
    caplog.set_level(logging.DEBUG)
    generations, out = tmp_path / "gen.jsonl", tmp_path / "out"
    _generations(synthetic_parquet, generations, rows=3)
    with LoopbackJudgeServer(behaviours=["http_400"], cycle=True) as echo:
        argv = ["--log-level", "DEBUG", "score", "--data", synthetic_parquet, "--generations", str(generations)]
        argv += ["--out", str(out), "--judge-url", echo.url, "--judge-model", "m", "--judge-retries", "1"]
        assert main([*argv, "--no-progress"]) == 0
        assert echo.served["http_400"] > 0 and echo.authorizations == {f"Bearer {LONG_KEY}"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["average"]["judge_failures"] > 0
    assert "HTTP 400" in caplog.text and "request headers" in caplog.text  # the echoing error body was logged ...
    captured = capsys.readouterr()
    seen = {"log": caplog.text, "stdout": captured.out, "stderr": captured.err, "files": _everything_written(out)}
    for where, text in seen.items():
        assert not any(piece in text for piece in _fragments(LONG_KEY)), where  # ... without any piece of the key


def test_a_judge_url_with_a_password_stops_the_run_before_any_request(
    synthetic_parquet, tmp_path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    generations, out = tmp_path / "gen.jsonl", tmp_path / "out"
    _generations(synthetic_parquet, generations, rows=2)
    with LoopbackJudgeServer() as server:
        url = server.url.replace("http://", f"http://alice:{PASSWORD}@")
        argv = ["score", "--data", synthetic_parquet, "--generations", str(generations), "--out", str(out)]
        assert main([*argv, "--judge-url", url, "--judge-model", "m", "--no-progress"]) == 1
        assert server.requests == 0
    captured = capsys.readouterr()
    assert "carries credentials" in captured.err and "***@127.0.0.1" in captured.err
    written = _everything_written(out) if out.exists() else ""
    assert not any(PASSWORD in text for text in (caplog.text, captured.out, captured.err, written))
