"""Judges for the consistency and semantic-grounding channels (SPEC §1).

- :class:`OpenAIJudge` — an LLM/VLM behind an OpenAI-compatible chat-completions API;
- :class:`RuleJudge` — offline rules (option matching, scene-graph checks);
- :func:`build_judge` — the one a :class:`~fgrpo_verl.config.JudgeConfig` asks for;
- :func:`looks_like_judge_injection` — policy text that addresses the judge (after ``judges.normalize``);
- :func:`parse_verdict` — the one explicit label of a judge's reply, or ``None``;
- :mod:`fgrpo_verl.judges.redaction` — credentials kept out of URLs, logs and errors;
"""

from fgrpo_verl.judges.base import Judge
from fgrpo_verl.judges.factory import build_judge
from fgrpo_verl.judges.injection import looks_like_judge_injection
from fgrpo_verl.judges.openai_judge import OpenAIJudge
from fgrpo_verl.judges.parsing import CONSISTENCY_LABELS, GROUNDING_LABELS, parse_verdict
from fgrpo_verl.judges.rule_judge import RuleJudge
from fgrpo_verl.judges.stats import JudgeTally

__all__ = [
    "CONSISTENCY_LABELS",
    "GROUNDING_LABELS",
    "Judge",
    "JudgeTally",
    "OpenAIJudge",
    "RuleJudge",
    "build_judge",
    "looks_like_judge_injection",
    "parse_verdict",
]
