"""tests/redact/redact_helpers.py for other test folders, loaded by path: putting tests/redact on
sys.path would let its conftest shadow the other folder's ``from conftest import``."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def redact_helpers() -> ModuleType:
    if "redact_helpers" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "redact_helpers", Path(__file__).resolve().parent / "redact" / "redact_helpers.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["redact_helpers"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["redact_helpers"]
