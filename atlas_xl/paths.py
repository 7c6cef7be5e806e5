"""Where things are: the bundled example data, and output folders that cannot escape where they are put."""

from __future__ import annotations

import re
from pathlib import Path

from atlas_xl.errors import ArgumentError

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def example_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "example_data"


def safe_output_dir(path: Path) -> Path:
    """Create the chosen output folder; refuse a path that names an existing file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentError(f"--out {str(path)!r} is a file; expected a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def safe_file_name(text: str, suffix: str = "") -> str:
    """A file name derived from data (run ids, client ids): no separators, no '..', never empty or hidden."""
    name = SAFE_NAME.sub("_", str(text)).strip("._") or "unnamed"
    return name[:100] + suffix


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, guaranteed to stay inside `folder` (a data-derived name cannot climb out)."""
    base = Path(folder).resolve()
    target = (base / safe_file_name(name)).resolve()
    if target.parent != base:
        raise ArgumentError(f"file name {name!r} would leave the folder {str(base)!r}")
    return target
