"""The package layout: one-way dependencies and the top-level public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import inscl


def _modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('inscl')))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def _imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_formats_and_superni_do_not_import_the_loader() -> None:
    # The old loaders <-> superni circle: readers and the SuperNI builder sit below loading.
    data = Path(inscl.__file__).parent / "data"
    for path in [*sorted((data / "formats").glob("*.py")), data / "superni.py"]:
        assert "inscl.data.loading" not in _imports_of(path), path
        assert "inscl.data" not in _imports_of(path), path  # the package __init__ imports loading


def test_importing_inscl_is_light() -> None:
    loaded = _modules_loaded_by("inscl")
    assert not any(m.startswith(("inscl.replay.", "inscl.runner", "inscl.encoders.")) for m in loaded)


def test_public_api_resolves() -> None:
    for name in inscl.__all__:
        assert getattr(inscl, name) is not None, name
