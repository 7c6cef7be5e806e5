"""Where things are: the bundled example data, and the output folder the user chose."""

from __future__ import annotations

from pathlib import Path

from atlas_xl.errors import ArgumentError, OutputError


def example_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "example_data"


def safe_output_dir(path: Path) -> Path:
    """Create the chosen output folder; refuse a path that names an existing file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentError(f"--out {str(path)!r} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {str(path)!r}: {describe_os_error(error)}") from None
    return path.resolve()


def describe_os_error(error: OSError) -> str:
    """'Permission denied' / 'No space left on device' (and the file the system named, if another)."""
    text = error.strerror or type(error).__name__
    return f"{text} ({error.filename})" if error.filename else text
