"""The dual state file of a checkpoint: ``global_step_N/fgrpo_duals.json`` (no verl imports).

SPEC §3: λ, the dual step count and the config they were made with are saved with every
checkpoint and restored exactly on resume. The file holds::

    {"format_version": 1,
     "global_step": N,
     "config": config_fingerprint(config),     # the advantage settings the dual state does not hold
     "duals": DualAscent.state_dict()}         # λ, step, constraints, τ, lr, λ_max, λ_init, min_applicable

It is written atomically (temporary file, then rename) and before verl writes
``latest_checkpointed_iteration.txt``, so a checkpoint the tracker points to always has it.

On resume in a mode that uses λ (``fgrpo``, ``fixed_lambda``), a checkpoint without the file,
or one whose constraint set differs from ``fgrpo.constraints``, is an error
(:class:`DualStateError`) unless ``fgrpo.reinit_duals_on_resume=true``, which logs a warning
and keeps λ at ``fgrpo.lambda_init``. Modes without λ neither need nor read the file.

This module checks the file (readable, UTF-8, JSON, its top-level fields, the step it belongs
to); :meth:`DualAscent.load_state_dict` checks the dual state inside it. Either way a malformed
file is a :class:`DualStateError` naming the file and the field.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from fgrpo_verl import checks
from fgrpo_verl.config import FGRPOConfig
from fgrpo_verl.duals import ConstraintSetMismatch, DualAscent

logger = logging.getLogger(__name__)

DUAL_STATE_FILE = "fgrpo_duals.json"
FORMAT_VERSION = 1


class DualStateError(RuntimeError):
    """A checkpoint's dual state is missing, unreadable or does not fit the current config."""


def build_duals(config: FGRPOConfig) -> DualAscent:
    """The :class:`DualAscent` of the enabled constraints, with the config's τ, η, λ_max, λ_init, min_applicable."""
    return DualAscent(
        thresholds=config.active_thresholds(),
        lr=config.dual_lr,
        lambda_max=config.lambda_max,
        lambda_init=config.active_lambda_init(),
        min_applicable=config.min_applicable,
    )


def config_fingerprint(config: FGRPOConfig) -> dict[str, Any]:
    """The settings that shape the advantage and that the dual state does not hold, as JSON values."""
    return {
        "mode": config.mode,
        "eps": config.eps,
        "whiten": config.whiten,
        "w_acc": config.w_acc,
        "w_format": config.w_format,
    }


def save_dual_state(folder: str | os.PathLike[str], duals: DualAscent, config: FGRPOConfig, global_step: int) -> Path:
    """Write ``folder/fgrpo_duals.json`` atomically (creating ``folder``); returns the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DUAL_STATE_FILE
    payload = {
        "format_version": FORMAT_VERSION,
        "global_step": int(global_step),
        "config": config_fingerprint(config),
        "duals": duals.state_dict(),
    }
    tmp = path.with_name(f".{DUAL_STATE_FILE}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def _read(path: Path) -> dict[str, Any]:
    """The file's payload with its top-level fields checked; :class:`DualStateError` naming file and field."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise DualStateError(f"{path}: not UTF-8 text (byte {err.start}): not an FGRPO dual state") from None
    except json.JSONDecodeError as err:
        raise DualStateError(f"{path}: not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise DualStateError(f"{path}: JSON nested too deeply: not an FGRPO dual state") from None
    except OSError as err:
        raise DualStateError(f"cannot read the FGRPO dual state {path}: {err.strerror or err}") from None
    if not isinstance(payload, dict):
        raise DualStateError(f"{path}: expected a JSON object, got {type(payload).__name__}")
    if payload.get("format_version") != FORMAT_VERSION:
        raise DualStateError(
            f"{path}: format_version must be {FORMAT_VERSION} (an FGRPO dual state), "
            f"got {payload.get('format_version')!r}"
        )
    for key in ("global_step", "config", "duals"):
        if key not in payload:
            raise DualStateError(f"{path}: the field {key!r} is missing")
    for key in ("config", "duals"):
        if not isinstance(payload[key], dict):
            raise DualStateError(f"{path}: {key} must be a JSON object, got {payload[key]!r}")
    try:
        checks.integer("global_step", payload["global_step"], low=0)
    except ValueError as err:
        raise DualStateError(f"{path}: {err}") from None
    return payload


def restore_dual_state(
    folder: str | os.PathLike[str], duals: DualAscent, config: FGRPOConfig, global_step: int
) -> bool:
    """Load ``folder/fgrpo_duals.json`` into ``duals``; True when λ was restored, False when not needed/reinitialised.

    Raises:
        DualStateError: (modes with λ only) the file is missing or malformed, it belongs to another
            step, or its constraint set differs from ``config.constraints``; the first and last
            are downgraded to a warning by ``config.reinit_duals_on_resume``.
    """
    if not config.uses_constraints:
        logger.info("fgrpo.mode=%s does not use λ: the dual state of the checkpoint is not read", config.mode)
        return False
    path = Path(folder) / DUAL_STATE_FILE
    reinit_hint = (
        f"set fgrpo.reinit_duals_on_resume=true to resume the model and start λ afresh at "
        f"fgrpo.lambda_init {config.active_lambda_init()}"
    )
    if not path.exists():
        if config.reinit_duals_on_resume:
            logger.warning("%s not found; fgrpo.reinit_duals_on_resume=true: λ starts at %s", path, duals.lambdas)
            return False
        raise DualStateError(
            f"the checkpoint {folder} has no FGRPO dual state ({DUAL_STATE_FILE} not found), so λ cannot be "
            f"restored: it was not written by the FGRPO trainer. Resume from an FGRPO checkpoint, or {reinit_hint}"
        )
    payload = _read(path)
    if int(payload["global_step"]) != global_step:
        raise DualStateError(
            f"{path} was saved at global step {payload['global_step']} but sits in the checkpoint of step "
            f"{global_step}; it does not belong to this checkpoint"
        )
    try:
        duals.load_state_dict(payload["duals"])
    except ConstraintSetMismatch:
        saved = list(payload["duals"]["constraints"])
        if config.reinit_duals_on_resume:
            logger.warning(
                "%s holds λ for constraints %s but fgrpo.constraints is %s; fgrpo.reinit_duals_on_resume=true: "
                "λ starts at %s",
                path,
                saved,
                list(config.constraints),
                duals.lambdas,
            )
            return False
        raise DualStateError(
            f"{path} holds λ for the constraints {saved}, but fgrpo.constraints is {list(config.constraints)}. "
            f"Resume with the constraints the run was started with, or {reinit_hint}"
        ) from None
    except ValueError as err:
        raise DualStateError(f"{path}: duals.{err}") from None
    current = config_fingerprint(config)
    changed = sorted(key for key, value in current.items() if payload["config"].get(key) != value)
    if changed:
        logger.warning(
            "resuming FGRPO with changed settings %s (saved: %s)",
            changed,
            {key: payload["config"].get(key) for key in changed},
        )
    logger.info("restored FGRPO dual state from %s: λ=%s after %d dual steps", path, duals.lambdas, duals.step)
    return True
