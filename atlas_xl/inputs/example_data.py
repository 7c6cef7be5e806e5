"""The bundled example portfolio: package data (atlas_xl/example_data), so that a wheel install has it too. The
repository's top-level example_data/ holds the same files (tests/test_example_data.py keeps them identical)."""

from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

_EXTRACTED = contextlib.ExitStack()  # only for an install that is not plain files (a zip): removed at exit
atexit.register(_EXTRACTED.close)


def example_data_dir() -> Path:
    """The folder of the bundled example portfolio, as a path the loader reads (the four CSV files and
    portfolio.xlsx). A wheel or an editable checkout installs plain files: files() is that folder itself."""
    folder = files("atlas_xl") / "example_data"
    if isinstance(folder, Path):
        return folder
    return _EXTRACTED.enter_context(as_file(folder))  # type: ignore[arg-type]
