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


@pytest.fixture(scope="session", autouse=True)
def private_default_store(tmp_path_factory):
    """Commands that open the default store (e.g. `atlas-xl run`) use a fresh file, not the user's data folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATLAS_DB_URL", f"sqlite:///{tmp_path_factory.mktemp('store') / 'atlas.db'}")
        yield
