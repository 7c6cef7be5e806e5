"""Shared fixtures: the bundled example data and small helpers. Topic-specific fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def example_data_dir() -> Path:
    return REPO / "example_data"
