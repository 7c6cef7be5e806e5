"""The folders are the architecture: the import contract in pyproject.toml (import-linter) holds.

Layers cli -> excel -> workflow -> inputs | outputs | store -> engines -> settings -> domain -> errors;
engines and domain import no file, Excel or database library; no cycles between the modules of a room.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"  # import-linter's program, beside this Python
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout
