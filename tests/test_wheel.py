"""A wheel install works on its own: built from the sources, installed into a fresh venv (dependencies from the
system site-packages), and run from an empty folder with the bundled example data - `atlas-xl run`,
`dashboard`, `workbook build` and `payouts propose` against a fresh SQLite store. The venv's atlas_xl must be
the wheel's copy, not this checkout nor the editable install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # a copy: building in the checkout would leave build/ and *.egg-info there
    source.mkdir()
    shutil.copytree(REPO / "atlas_xl", source / "atlas_xl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ATLAS_DB_URL", "ATLAS_USER")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
          str(source)], root, env)
    (wheel,) = (root / "dist").glob("atlas_xl-*.whl")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)], root, env)
    env["PATH"] = f"{root / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["ATLAS_DB_URL"] = f"sqlite:///{root / 'atlas.db'}"
    return root, env


def test_the_venv_imports_the_wheels_copy(installed):
    root, env = installed
    work = root / "empty-1"
    work.mkdir()
    done = _run([str(root / "venv" / "bin" / "python"), "-c",
                 "import atlas_xl, atlas_xl.inputs.example_data as e; print(atlas_xl.__file__); "
                 "print(e.example_data_dir())"], work, env)
    module, data = done.stdout.split()
    assert Path(module).is_relative_to(root / "venv"), module
    assert Path(data).is_relative_to(root / "venv") and (Path(data) / "portfolio.xlsx").is_file(), data


def test_the_commands_run_from_an_empty_folder_on_the_bundled_data(installed):
    root, env = installed
    work = root / "empty-2"
    work.mkdir()
    cli = str(root / "venv" / "bin" / "atlas-xl")
    _run([cli, "run", "--out", "out"], work, env)
    assert [p.suffix for p in sorted((work / "out").iterdir())].count(".xlsx") == 1
    _run([cli, "dashboard", "--out", "d.html"], work, env)
    assert (work / "d.html").stat().st_size > 10_000
    _run([cli, "workbook", "build", "--out", "w.xlsm"], work, env)
    assert (work / "w.xlsm").stat().st_size > 10_000
    # The README walk-through: `run` above created the default store as a normal one on first use, and a
    # store's kind is fixed at creation, so the walk-through's demo store is a database of its own.
    env = {**env, "ATLAS_DB_URL": f"sqlite:///{root / 'atlas-demo.db'}"}
    _run([cli, "store", "init", "--demo"], work, env)
    _run([cli, "users", "add", "ada", "--role", "admin", "--user", "ada"], work, env)
    _run([cli, "users", "add", "otto", "--role", "operations", "--user", "ada"], work, env)
    proposed = json.loads(_run([cli, "payouts", "propose", "--user", "otto", "--json"], work, env).stdout)
    assert proposed
