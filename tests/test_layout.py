"""The package layout: one-way dependencies and the top-level public API."""

from __future__ import annotations

import subprocess
import sys

import inscl


def _modules_loaded_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('inscl')))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_formats_and_superni_do_not_import_the_loader() -> None:
    # The old loaders <-> superni circle: readers and the SuperNI builder sit below loading.
    for module in ("inscl.data.formats", "inscl.data.superni"):
        assert "inscl.data.loading" not in _modules_loaded_by(module)


def test_importing_inscl_is_light() -> None:
    loaded = _modules_loaded_by("inscl")
    assert not any(m.startswith(("inscl.replay.", "inscl.runner", "inscl.encoders.")) for m in loaded)


def test_public_api_resolves() -> None:
    for name in inscl.__all__:
        assert getattr(inscl, name) is not None, name
