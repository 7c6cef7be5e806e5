"""Changed bank details (issue 16, the classic fraud path): a payout to an IBAN, BIC or name that changed since
the client's last executed payout is marked on the proposal, in `payouts show` and on the reviewer list, and needs
two approvers whatever its amount; a payout the bank details make impossible is refused at propose. SQLite and the
real PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from atlas_xl.cli.app import main
from atlas_xl.errors import WorkflowError
from atlas_xl.outputs.sepa.reviewer_list import CHANGED_MARK
from atlas_xl.store.database import Store
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.runs import approve_run, list_runs, propose_run, show_run
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts

MONDAY, TUESDAY, WEDNESDAY = date(2024, 3, 25), date(2024, 3, 26), date(2024, 3, 27)


def _paid(store: Store, frame: pd.DataFrame, day: date, out: Path) -> None:
    run = propose_run(store, frame, day, "otto").run
    approve_run(store, run.ref, "fiona")
    execute_run(store, run.ref, "felix", out / day.isoformat())


def _with(frame: pd.DataFrame, client: str, **values: str | None) -> pd.DataFrame:
    changed = frame.copy()
    for column, value in values.items():
        changed.loc[changed["client_id"] == client, column] = value
    return changed


def test_a_changed_iban_is_marked_and_needs_two_approvers(admin_users: Store, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    store = admin_users
    _paid(store, make_payouts({"C001": 10_00, "C002": 20_00}), MONDAY, tmp_path)
    # C001's IBAN changes (to C004's account); EUR 5.00 is far below the EUR 100,000.00 dual approval
    frame = _with(make_payouts({"C001": 5_00, "C002": 7_00, "C003": 9_00}), "C001", iban="DE02120300000000202051",
                  country="DE")
    run = propose_run(store, frame, TUESDAY, "otto").run
    assert (run.total_cents, run.approvals_required) == (21_00, 2)  # 5 + 7 + 9 = EUR 21.00, two approvers
    detail = show_run(store, run.ref, "rita")
    # C002 unchanged; C003 was never paid before (nothing to compare with): not marked
    assert {p.client_id: p.bank_details_changed for p in detail.payouts} == {"C001": True, "C002": False,
                                                                            "C003": False}
    assert detail.to_dict()["payouts"][0]["bank_details_changed"] is True
    code = main(["payouts", "show", run.ref, "--db", store.url.render_as_string(hide_password=False), "--user", "rita"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines if "BANK DETAILS CHANGED" in line] == ["C001"]
    first = approve_run(store, run.ref, "fiona")
    assert (first.status, first.approvals) == ("proposed", ("fiona",))  # one approval is not enough
    with pytest.raises(WorkflowError, match="1/2 approvals"):
        execute_run(store, run.ref, "felix", tmp_path / "early")
    assert approve_run(store, run.ref, "frida").status == "approved"
    result = execute_run(store, run.ref, "felix", tmp_path / "tuesday")
    review = load_workbook(result.reviewer_path)
    transfers = review["Transfers"]
    assert transfers.cell(1, 9).value == "Bank details"
    marks = {transfers.cell(r, 1).value: transfers.cell(r, 9).value for r in range(2, 5)}
    assert marks == {"C001": CHANGED_MARK, "C002": None, "C003": None}
    summary = {review["Summary"].cell(r, 1).value: review["Summary"].cell(r, 2).value for r in range(3, 20)}
    assert str(summary["Payment policy"]).startswith("P1: dual approval from EUR 100,000.00, breach 1, warning 0.8")
    # the new IBAN was paid: it is now the one a later payout is compared with
    again = propose_run(store, _with(make_payouts({"C001": 5_00}), "C001", iban="DE02120300000000202051",
                                     country="DE"), WEDNESDAY, "otto").run
    assert again.approvals_required == 1
    assert [p.bank_details_changed for p in show_run(store, again.ref, "rita").payouts] == [False]


@pytest.mark.parametrize(("column", "value", "changed"), [
    ("bic", "DEUTDEFFXXX", True),
    ("bic", None, True),  # a BIC removed is a change too
    ("name", "Client C001 Holding GmbH", True),
    ("iban", "DE89 3704 0044 0532 0130 00", False),  # the same IBAN written in groups
    ("name", "  Client   C001 GmbH ", False),  # the same name, other spacing
    ("remittance", "other text", False),  # not bank details
])
def test_which_changes_count(admin_users: Store, tmp_path: Path, column: str, value: str | None,
                             changed: bool) -> None:
    _paid(admin_users, make_payouts({"C001": 10_00}), MONDAY, tmp_path)
    run = propose_run(admin_users, _with(make_payouts({"C001": 10_00}), "C001", **{column: value}), TUESDAY,
                      "otto").run
    assert run.approvals_required == (2 if changed else 1)
    assert [p.bank_details_changed for p in show_run(admin_users, run.ref, "rita").payouts] == [changed]


def test_only_executed_payouts_count_as_the_known_details(admin_users: Store) -> None:
    # a proposed (never executed) run with another IBAN does not make that IBAN "known"
    propose_run(admin_users, _with(make_payouts({"C001": 10_00}), "C001", iban="DE02120300000000202051"), MONDAY,
                "otto")
    run = propose_run(admin_users, make_payouts({"C001": 10_00}), TUESDAY, "otto").run
    assert run.approvals_required == 1


@pytest.mark.parametrize(("column", "value", "message"), [
    ("iban", "DE89370400440532013001", "iban 'DE89370400440532013001' cannot be paid"),
    ("iban", "BE65001983341924", "iban 'BE65001983341924' cannot be paid"),  # national check digits
    ("iban", "", "IBAN is missing"),
    ("bic", "NOTABIC", "bic 'NOTABIC' cannot be paid"),
    ("name", "中文", "has no character of the SEPA"),
])
def test_an_impossible_payout_is_refused_at_propose(admin_users: Store, column: str, value: str,
                                                    message: str) -> None:
    # readiness already blocks these; propose refuses a frame that marks one ready anyway, so that no run is
    # ever snapshotted (and approved) that could never be executed
    frame = _with(make_payouts({"C001": 10_00, "C002": 20_00}), "C002", **{column: value})
    with pytest.raises(WorkflowError, match=f"client 'C002' is ready for 2024-03-25 but its .*{message}"):
        propose_run(admin_users, frame, MONDAY, "otto")
    assert list_runs(admin_users, "rita") == []
