"""Where things are: the bundled example data, and the output folder the user chose."""

from __future__ import annotations

from pathlib import Path

from atlas_xl.errors import ArgumentError


def example_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "example_data"


def safe_output_dir(path: Path) -> Path:
    """Create the chosen output folder; refuse a path that names an existing file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentError(f"--out {str(path)!r} is a file; expected a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
