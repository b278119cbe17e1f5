"""Run a function right after a module is first imported: how the verl plugin patches verl lazily.

The fgrpo-verl plugin is imported while ``verl/__init__`` is still executing, in every verl process,
so it may not import verl's trainer or engine modules itself. :func:`after_import` instead puts a
finder at the front of ``sys.meta_path`` that lets the other finders locate the module, wraps its
loader, and calls the callback once the module's code has run (at once if it is already imported).

A callback that raises is logged with ``failure`` and swallowed: breaking verl's own import would
break every verl run in the environment, while the caller's own checks (e.g. the preflight) can
report what is missing. Idempotent per module name, also when this module is imported under a second
name (hooks are recognised by a marker attribute, not by identity).
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_MARKER = "_fgrpo_verl_after_import"


def _run(callback: Callable[[], None], failure: str) -> None:
    try:
        callback()
    except Exception:
        logger.warning("fgrpo-verl: %s", failure, exc_info=True)


class _RunAfterExec(importlib.abc.Loader):
    """Wraps a module's loader: executes the module, then runs the callback; delegates the rest."""

    def __init__(self, loader: Any, callback: Callable[[], None], failure: str) -> None:
        self._loader = loader
        self._callback = callback
        self._failure = failure

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _run(self._callback, self._failure)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _AfterImportHook(importlib.abc.MetaPathFinder):
    """Finds ``target`` with the other finders and wraps its loader; removes itself once used."""

    _fgrpo_verl_after_import = True

    def __init__(self, target: str, callback: Callable[[], None], failure: str) -> None:
        self.target = target
        self.callback = callback
        self.failure = failure

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.target:
            return None
        for finder in sys.meta_path:
            if getattr(finder, _MARKER, False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RunAfterExec(spec.loader, self.callback, self.failure)
        return spec


def after_import(module: str, callback: Callable[[], None], failure: str) -> None:
    """Call ``callback()`` once ``module`` has been imported: now if it already is, else right after
    its first import. ``failure`` is the log message if the callback raises (it never propagates)."""
    if module in sys.modules:
        _run(callback, failure)
    elif not any(getattr(f, _MARKER, False) and getattr(f, "target", None) == module for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportHook(module, callback, failure))
