"""Shared fixtures. Tests never touch the network: hub access is switched off here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPERNI_DIR = REPO_ROOT.parent / "shared" / "data" / "superni"


@pytest.fixture(scope="session")
def superni_dir() -> Path:
    """The shared SuperNI subset (categories.json + tasks/); skips when it is absent."""
    if not (SUPERNI_DIR / "categories.json").is_file():
        pytest.skip(f"SuperNI subset not found at {SUPERNI_DIR}")
    return SUPERNI_DIR
