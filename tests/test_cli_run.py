"""The headless daily job end to end: `atlas-xl run` on the bundled data, the report opened back."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.cli.app import main
from atlas_xl.engines.run import run_engines
from atlas_xl.inputs.portfolio import load_portfolio

SHEETS = ["Dashboard", "Payouts", "Exposure", "Alerts", "Reserves", "Reserve releases", "Releases per day", "Balances",
          "Client drill-down", "Schedules", "Projection", "Exceptions"]


def kpis_of(report: Path) -> dict[str, object]:
    ws = openpyxl.load_workbook(report, read_only=True)["Dashboard"]
    return {row[0]: row[1] for row in ws.iter_rows(min_row=4, max_col=2, values_only=True) if row[0]}


def table_of(report: Path, sheet: str, header_row: int) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(report, read_only=True)[sheet]
    rows = list(ws.iter_rows(min_row=header_row, values_only=True))
    return [dict(zip(rows[0], r, strict=False)) for r in rows[1:]]


@pytest.fixture(scope="module")
def run_output(tmp_path_factory, example_data_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    code = main(["run", "--data", str(example_data_dir), "--out", str(out), "--no-dashboard"])
    assert code == 0
    (report,) = out.glob("atlas-report-*.xlsx")
    return report, kpis_of(report)


def test_report_has_every_sheet_and_no_temp_files(run_output):
    report, _ = run_output
    assert openpyxl.load_workbook(report, read_only=True).sheetnames[: len(SHEETS)] == SHEETS
    assert [p.name for p in report.parent.iterdir()] == [report.name]


def test_report_figures_reconcile_with_the_engine(run_output, example_data_dir):
    report, kpis = run_output
    result = run_engines(load_portfolio(example_data_dir))
    assert kpis["As-of date"] == result.as_of.isoformat()
    assert kpis["Clients"] == len(result.payouts)
    payouts = table_of(report, "Payouts", header_row=2)
    ready = [r for r in payouts if r["Ready"] == "yes"]
    assert kpis["Payouts ready"] == len(ready) == int(result.payouts["ready"].sum())
    # the total to pay on the Dashboard equals the sum of the Payable column of the ready rows, to the cent
    total = sum(Decimal(str(r["Payable"])) for r in ready)
    assert Decimal(str(kpis["Total to pay (EUR)"])) == total == Decimal(result.kpis.total_to_pay_cents) / 100
    blocked = [r for r in payouts if r["Ready"] == "no"]
    assert all(r["Reasons"] and r["Reason codes"] for r in blocked)
    assert {r["Status"] for r in blocked} == {"BLOCKED", "NOT DUE"}
    exposure = [r for r in table_of(report, "Exposure", header_row=2) if r["Client"] != "Total"]
    assert {r["Status"] for r in exposure} <= {"OK", "WARNING", "BREACH"}
    alerts = table_of(report, "Alerts", header_row=1)
    assert len(alerts) == kpis["Alerts"] == len(result.alerts)


def test_report_sheets_are_formatted(run_output):
    report, _ = run_output
    wb = openpyxl.load_workbook(report)
    payouts = wb["Payouts"]
    assert payouts.freeze_panes == "A3"
    assert payouts.auto_filter.ref.startswith("A2:")
    assert payouts.cell(row=3, column=14).number_format == "#,##0.00"
    assert wb["Exposure"].conditional_formatting  # WARNING / BREACH highlighted
    assert wb["Dashboard"]._charts  # at least the projection chart


def test_csv_and_xlsx_inputs_give_the_same_report_figures(tmp_path, example_data_dir):
    xlsx = example_data_dir / "portfolio.xlsx"
    assert main(["run", "--data", str(xlsx), "--out", str(tmp_path / "x"), "--no-dashboard"]) == 0
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path / "c"), "--no-dashboard"]) == 0
    (from_xlsx,) = (tmp_path / "x").glob("*.xlsx")
    (from_csv,) = (tmp_path / "c").glob("*.xlsx")
    assert kpis_of(from_xlsx) == kpis_of(from_csv)
    for sheet, header in (("Payouts", 2), ("Exposure", 1), ("Reserves", 1), ("Schedules", 1)):
        assert table_of(from_xlsx, sheet, header) == table_of(from_csv, sheet, header)


def test_json_summary_for_cron(tmp_path, example_data_dir, capsys):
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path), "--json", "--no-dashboard"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["clients"] == 40
    assert payload["payouts_ready"] + payload["payouts_blocked"] + payload["payouts_not_due"] == 40
    assert Path(payload["outputs"]["Report"]).exists()


def test_json_summary_keeps_its_keys_and_figures(tmp_path, example_data_dir, capsys):
    # the bundled data's headline figures as --json printed them while the engine's KPIs were a plain dict
    # (before `Kpis.as_dict`): the same keys, the same values, ints and the as-of date as text
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path), "--json", "--no-dashboard",
                 "--no-store"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload.pop("timings")) == {"load_seconds", "engine_seconds", "report_seconds", "outputs_seconds"}
    assert payload.pop("outputs") == {"Report": str(tmp_path / "atlas-report-2026-11-23.xlsx")}
    assert payload == {
        # issue 20: 11 of the 17 once "blocked" are merely not due (269,229.01 of the 1,753,618.55 "held
        # back"); C00006's 16,302.17 is swept to its advance; loans outstanding as the ledger: 350,077.12
        # factoring + 199,738.36 term loans
        "as_of": "2026-11-23", "clients": 40, "payouts_ready": 23, "payouts_blocked": 6, "payouts_not_due": 11,
        "total_to_pay_cents": 15048740, "held_back_cents": 146808737, "not_due_cents": 26922901,
        "reserve_balance_cents": 10871801,
        "upcoming_releases_cents": 9571801, "total_exposure_cents": 61550847, "top10_share_ppm": 945145,
        "alerts": 4, "limit_breaches": 2, "limit_warnings": 2, "loans_outstanding_cents": 54981548,
        "refused_rows": 1,
    }
    assert all(type(value) is int for key, value in payload.items() if key != "as_of")


def test_bad_input_exits_2_with_a_located_message_and_writes_nothing(tmp_path, example_data_dir, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for source in example_data_dir.glob("*.csv"):
        (data / source.name).write_bytes(source.read_bytes())
    with (data / "clients.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[2][rows[0].index("credit_limit")] = "12.345"  # row 3 as the user sees it (header = row 1)
    with (data / "clients.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out = tmp_path / "out"
    assert main(["run", "--data", str(data), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "clients.csv" in message and "row 3" in message and "credit_limit" in message
    assert "Traceback" not in message
    assert not out.exists() or not any(out.iterdir())


def test_bad_as_of_date_is_a_clear_error(tmp_path, example_data_dir, capsys):
    assert main(["run", "--data", str(example_data_dir), "--as-of", "2026-13-01", "--out", str(tmp_path)]) == 2
    assert "2026-13-01" in capsys.readouterr().err


def test_report_and_page_written_side_by_side_equal_each_writer_run_alone(tmp_path: Path, example_data_dir) -> None:
    # `run` renders the dashboard page on a second thread while it writes the report; both must come out as
    # each writer makes them on its own (only the creation time in docProps/core.xml and the page's
    # "generated" minute may differ).
    import zipfile

    from atlas_xl.outputs.dashboard import render as dash
    from atlas_xl.outputs.report.layout import write_report

    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path / "run"), "--no-store"]) == 0
    (report,) = (tmp_path / "run").glob("atlas-report-*.xlsx")
    result = run_engines(load_portfolio(example_data_dir))
    alone = write_report(result, tmp_path / "alone.xlsx", str(example_data_dir))
    with zipfile.ZipFile(report) as together, zipfile.ZipFile(alone) as single:
        names = sorted(set(together.namelist()) - {"docProps/core.xml"})
        assert names == sorted(set(single.namelist()) - {"docProps/core.xml"})
        assert len(names) > 20
        for name in names:
            assert together.read(name) == single.read(name), name

    def page_data(html: str) -> dict:
        data = json.loads(html.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0])
        data["meta"].pop("generated")
        return data

    page = (tmp_path / "run" / "dashboard.html").read_text(encoding="utf-8")
    expected = page_data(dash.render(result, str(example_data_dir)))
    assert page_data(page) == expected
    assert len(expected["postings"]["amount"]) > 100


def test_a_dashboard_path_that_is_a_folder_stops_the_run_before_any_output(tmp_path: Path, example_data_dir,
                                                                           capsys) -> None:
    (tmp_path / "dashboard.html").mkdir()
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path), "--no-store"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("atlas-report-*.xlsx"))


def test_a_failed_report_leaves_the_previous_dashboard_untouched(tmp_path: Path, example_data_dir, monkeypatch,
                                                                 capsys) -> None:
    # The page is rendered while the report is written, but saved only once the report is in place.
    from atlas_xl.errors import ArgumentError
    from atlas_xl.outputs.report import layout as report

    (tmp_path / "dashboard.html").write_text("yesterday's page")

    def failing_report(*args, **kwargs):
        raise ArgumentError("the report cannot be written here")

    monkeypatch.setattr(report, "write_report", failing_report)
    assert main(["run", "--data", str(example_data_dir), "--out", str(tmp_path), "--no-store"]) == 2
    assert "the report cannot be written here" in capsys.readouterr().err
    assert (tmp_path / "dashboard.html").read_text() == "yesterday's page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dashboard.html"]


def test_outputs_the_system_refuses_are_exit_73_with_the_reason(tmp_path: Path, example_data_dir, capsys) -> None:
    # an --out below a file, a report name taken by a folder, a dashboard below a file: one line naming the
    # path and the system's reason, exit 73 (sysexits' "cannot create output"), no traceback, no temp file
    (tmp_path / "afile").write_text("x")
    data = ["--data", str(example_data_dir), "--no-store"]
    assert main(["run", *data, "--out", str(tmp_path / "afile" / "sub")]) == 73
    err = capsys.readouterr().err
    assert "cannot create the output folder" in err and "Not a directory" in err and "Traceback" not in err
    taken = tmp_path / "taken"
    report_name = f"atlas-report-{load_portfolio(example_data_dir).last_date.date().isoformat()}.xlsx"
    (taken / report_name).mkdir(parents=True)
    assert main(["run", *data, "--out", str(taken), "--no-dashboard"]) == 73
    err = capsys.readouterr().err
    assert f"cannot write '{taken / report_name}': a folder has that name" in err
    assert sorted(p.name for p in taken.iterdir()) == [report_name]
    assert main(["dashboard", "--data", str(example_data_dir), "--out", str(tmp_path / "afile" / "d.html")]) == 73
    assert f"cannot create the output folder '{tmp_path / 'afile'}': a file has that name" in capsys.readouterr().err


def test_an_error_python_can_only_ignore_is_one_line_not_a_traceback() -> None:
    import subprocess
    import sys

    probe = ("import sys; from atlas_xl.cli import app as cli; sys.unraisablehook = cli._one_line_unraisable\n"
             "class Spool:\n    def __del__(self):\n        raise OSError(28, 'No space left on device')\n"
             "s = Spool(); del s")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "note: ignored while cleaning up: OSError: [Errno 28] No space left on device"
