"""atlas_xl.cli.memory: the CLI's glibc settings make freed large arrays reusable (counted in page faults, not time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from atlas_xl import __version__

PROBE = """
import resource, sys
import numpy as np
from atlas_xl.cli.memory import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "on" else None
np.ones(1)  # numpy's own start-up faults are not counted
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    block = np.empty(48 << 20, dtype=np.uint8)  # 48 MiB: above glibc's default largest mmap threshold
    block.fill(1)  # touch every page
    del block
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setting: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt exists on Linux only")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again() -> None:
    # Unmapped on every free (glibc's default for blocks this size) each of the 6 rounds faults all its pages
    # in again; kept in the heap, only the first round does: about 6x fewer faults. (The page count a round
    # costs depends on the machine's transparent huge pages: 12,288 pages of 4 KiB, or ~24 of 2 MiB.)
    took, faults_on = _faults("on")
    _, faults_off = _faults("off")
    assert took == "True"
    assert faults_on * 3 < faults_off


def test_the_cli_turns_off_numpys_huge_page_advice() -> None:
    # atlas-xl's main() switches it off before any work; _set_madvise_hugepage returns the previous setting
    probe = ("from atlas_xl.cli.app import main; main(['version']); "
             "from numpy._core.multiarray import _set_madvise_hugepage; print(_set_madvise_hugepage(True))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False"


def test_the_atlas_xl_program_collects_less_often_and_freezes_its_objects_before_exit() -> None:
    # The console script (pyproject: atlas-xl = atlas_xl.cli.app:entry) and `python -m atlas_xl` go through
    # entry(); an atexit hook runs after it, while the interpreter ends, and sees both settings in place.
    probe = ("import atexit, gc; "
             "atexit.register(lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 0)); "
             "from atlas_xl.cli.app import entry; entry(['version'])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [__version__, "10000", "True"]


def test_main_alone_leaves_the_collector_as_it_was() -> None:
    # Tests and embedders call main() in a process that goes on: nothing may stay frozen there.
    probe = ("import gc; before = gc.get_threshold(); from atlas_xl.cli.app import main; main(['version']); "
             "print(gc.get_threshold() == before, gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [__version__, "True", "0"]


def test_python_dash_m_atlas_xl_runs_the_program() -> None:
    out = subprocess.run([sys.executable, "-m", "atlas_xl", "version"], capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, __version__)
