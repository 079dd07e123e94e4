"""Helpers shared by tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_function(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module of its own.

    Every function's module is named ``app`` (as Lambda imports it), so each is
    loaded by file path under a distinct name; loaded once, then reused.
    """
    module_name = f"functions_{name}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler at functions/{name}/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
