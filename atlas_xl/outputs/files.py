"""The one way Atlas writes a file, and where things are.

Every output (report, dashboard, SEPA file, reviewer list, workbook, example data) goes through `replacing`
or `write_atomic`: a temporary file in the target folder, written, fsynced, given the output file mode,
renamed over the target, and the folder fsynced. A failure at any step leaves the previous file (or none)
and no temporary file; the error names the target, never the temporary name.

File mode policy: every output holds client data, so every output is created 0600 (owner only). One setting,
`ATLAS_OUTPUT_MODE`, widens it for a shared outbox group (0640 or 0660); a mode that gives anything to
"others" is refused, so no setting can make client data world-readable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from atlas_xl.errors import ArgumentError, ConfigError, OutputError

DEFAULT_OUTPUT_MODE = 0o600
OUTPUT_MODE_ENV = "ATLAS_OUTPUT_MODE"
ALLOWED_OUTPUT_MODES = (0o600, 0o640, 0o660)

Step = Callable[[str], None]  # called with "after_temp_write", "after_fsync", "after_rename" (crash tests)


def output_mode(environ: Mapping[str, str] | None = None) -> int:
    """The file mode of every output: 0600, or the group-readable mode ATLAS_OUTPUT_MODE names."""
    text = (os.environ if environ is None else environ).get(OUTPUT_MODE_ENV, "").strip()
    if not text:
        return DEFAULT_OUTPUT_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if mode not in ALLOWED_OUTPUT_MODES:
        allowed = ", ".join(f"{m:04o}" for m in ALLOWED_OUTPUT_MODES)
        raise ConfigError(f"{OUTPUT_MODE_ENV}={text[:20]!r} is not an output file mode Atlas allows; expected one "
                          f"of {allowed} (outputs hold client data: never readable by others)")
    return mode


def describe_os_error(error: OSError) -> str:
    """'Permission denied' / 'No space left on device' (and the file the system named, if another)."""
    text = error.strerror or type(error).__name__
    return f"{text} ({error.filename})" if error.filename else text


def _refused(path: Path, error: OSError) -> OutputError:
    reason = error.strerror or str(error) or type(error).__name__
    return OutputError(f"cannot write {str(path)!r}: {reason}")


def safe_output_dir(path: Path | str) -> Path:
    """Create the chosen output folder; refuse a path that names an existing file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ArgumentError(f"--out {str(path)!r} is a file; expected a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {str(path)!r}: {describe_os_error(error)}") from None
    return path.resolve()


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder we may write but not open (rare); the rename itself has happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path | str, *, step: Step | None = None, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a library to write to; on success it is fsynced, given the
    output mode and renamed over `path`. On any error (or an exception in the block) it is removed."""
    path = Path(path)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot create the output folder {str(folder)!r}: a file has that name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {str(folder)!r}: {describe_os_error(error)}") from None
    if path.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: a folder has that name")
    file_mode = output_mode() if mode is None else mode
    tmp = folder / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
        os.close(fd)
    except OSError as error:
        raise _refused(path, error) from None
    try:
        yield tmp
        if step:
            step("after_temp_write")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, file_mode)  # a library may have recreated the file with its own mode
        if step:
            step("after_fsync")
        os.replace(tmp, path)
        if step:
            step("after_rename")
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise _refused(path, error) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def write_atomic(path: Path | str, data: bytes, *, step: Step | None = None, mode: int | None = None) -> Path:
    """Write `data` to `path` through `replacing`; returns the path."""
    path = Path(path)
    with replacing(path, step=step, mode=mode) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
    return path

