"""A private copy of the simplechain example (examples/simplechain/simplechain.py) for the broken protocols here.

Each broken protocol loads its own copy under its own module name, so what it patches never reaches the example
or another test.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simplechain" / "simplechain.py"


def load_copy(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
