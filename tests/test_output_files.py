"""The one atomic writer (atlas_xl.outputs.files): every output gets the same file mode, a failure leaves the
old file and no temporary file, and an unwritable target is an OutputError naming the target."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from atlas_xl.errors import ConfigError, OutputError
from atlas_xl.examples.portfolio import generate_portfolio, write_csv, write_xlsx
from atlas_xl.excel.workbook import build_workbook_file
from atlas_xl.inputs.portfolio import load_portfolio
from atlas_xl.outputs.dashboard.render import save_page
from atlas_xl.outputs.files import OUTPUT_MODE_ENV, output_mode, replacing, write_atomic
from atlas_xl.outputs.report.layout import Col, ReportWriter
from atlas_xl.outputs.sepa.pain001 import write_pain001_file
from atlas_xl.outputs.sepa.reviewer_list import write_reviewer_list
from atlas_xl.outputs.sepa.transfers import CreditTransfer
from atlas_xl.settings import Settings

TRANSFER = CreditTransfer("R1-C001", "C001", 12_345, "=HYPERLINK(1)", "DE02120300000000202051", None, "Payout")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _every_output(folder: Path) -> list[Path]:
    """One file of each kind Atlas writes: report, dashboard, reviewer list, SEPA file, workbook, example data."""
    folder.mkdir()
    report = ReportWriter()
    report.table("T", pd.DataFrame({"a": [1, 2]}), [Col("A", "a", "money")])
    report.save(folder / "report.xlsx")
    save_page("<html></html>", folder / "dashboard.html")
    write_reviewer_list(folder / "review.xlsx", {"run_id": "R1", "payout_date": date(2026, 4, 7)}, [TRANSFER])
    write_pain001_file(folder / "sepa.xml", b"<Document/>")
    tables = generate_portfolio(clients=3, days=5, seed=1)
    csvs = write_csv(tables, folder / "data")
    example = write_xlsx(tables, folder / "data.xlsx")
    workbook = build_workbook_file(load_portfolio(folder / "data"), folder / "ops.xlsm", Settings())
    return [folder / "report.xlsx", folder / "dashboard.html", folder / "review.xlsx", folder / "sepa.xml",
            *csvs, example, workbook]


def test_every_output_is_owner_only_by_default_and_group_readable_with_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv(OUTPUT_MODE_ENV, raising=False)
    old_umask = os.umask(0)  # a permissive umask must not widen anything: the mode is set, not inherited
    try:
        private = _every_output(tmp_path / "private")
        monkeypatch.setenv(OUTPUT_MODE_ENV, "0640")
        shared = _every_output(tmp_path / "shared")
    finally:
        os.umask(old_umask)
    assert len(private) == 10  # 4 run outputs, 4 example CSVs, example xlsx, operations workbook
    assert {p.name: f"{_mode(p):04o}" for p in private} == {p.name: "0600" for p in private}
    assert {p.name: f"{_mode(p):04o}" for p in shared} == {p.name: "0640" for p in shared}
    assert not [p for p in tmp_path.rglob("*.tmp")]


@pytest.mark.parametrize("text", ["0644", "0666", "0604", "0700", "644", "rw-r--r--"])
def test_a_mode_that_gives_bits_to_others_or_is_not_allowed_is_refused(tmp_path, monkeypatch, text):
    monkeypatch.setenv(OUTPUT_MODE_ENV, text)
    with pytest.raises(ConfigError, match=rf"{OUTPUT_MODE_ENV}=.*expected one of 0600, 0640, 0660"):
        write_atomic(tmp_path / "x.html", b"data")
    assert list(tmp_path.iterdir()) == []  # refused before any file was made


def test_allowed_modes(monkeypatch):
    assert output_mode({}) == 0o600
    assert output_mode({OUTPUT_MODE_ENV: " 0660 "}) == 0o660
    assert output_mode({OUTPUT_MODE_ENV: "640"}) == 0o640


def test_a_target_in_a_folder_that_cannot_hold_files_is_refused_naming_the_target(tmp_path):
    # /proc/self is a real folder no file can be created in (not even by root, who ignores permission bits)
    if not Path("/proc/self").is_dir():
        pytest.skip("needs Linux /proc")
    target = Path("/proc/self/report.xlsx")
    with pytest.raises(OutputError) as refused:
        write_atomic(target, b"data")
    message = str(refused.value)
    assert message.startswith("cannot write '/proc/self/report.xlsx': ") and ".tmp" not in message


def test_a_target_whose_folder_is_a_file_is_refused_naming_the_folder(tmp_path):
    (tmp_path / "plain").write_text("a file, not a folder")
    with pytest.raises(OutputError, match=r"output folder '.*plain': a file has that name") as refused:
        save_page("<html></html>", tmp_path / "plain" / "dashboard.html")
    assert ".tmp" not in str(refused.value)


def test_a_failure_mid_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"old report")
    with pytest.raises(RuntimeError, match="library failed"), replacing(target) as tmp:
        tmp.write_bytes(b"half a new rep")
        raise RuntimeError("library failed")
    assert target.read_bytes() == b"old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx"]


@pytest.mark.parametrize("step", ["after_temp_write", "after_fsync"])
def test_a_failure_before_the_rename_leaves_the_old_file(tmp_path, step):
    target = tmp_path / "sepa.xml"
    target.write_bytes(b"old")

    def fail_at(name: str) -> None:
        if name == step:
            raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match=r"cannot write '.*sepa\.xml': No space left on device"):
        write_atomic(target, b"new", step=fail_at)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sepa.xml"]


def test_a_replaced_file_gets_the_output_mode_not_the_old_files(tmp_path, monkeypatch):
    monkeypatch.delenv(OUTPUT_MODE_ENV, raising=False)
    target = tmp_path / "list.xlsx"
    target.write_bytes(b"old")
    target.chmod(0o644)  # e.g. written by an older version
    write_atomic(target, b"new")
    assert (target.read_bytes(), _mode(target)) == (b"new", 0o600)
