"""Issue 16: a proposal racing an execution, and the Excel "Propose run" reuse, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from atlas_xl.errors import ConfigError, WorkflowError
from atlas_xl.excel import macros
from atlas_xl.excel import ranges as xe
from atlas_xl.excel.workbook import TABLE_SHEETS
from atlas_xl.settings import Settings
from atlas_xl.store.database import Store
from atlas_xl.workflow import runs
from atlas_xl.workflow.execution import execute_run
from atlas_xl.workflow.policies import approve_policy, propose_policy
from atlas_xl.workflow.runs import approve_run, find_open_run, list_runs, propose_from_data, propose_run
from atlas_xl.workflow.users import add_user
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts

SMALL = Settings()  # the initial payment policy (EUR 100,000 dual approval): the small runs below need one approver


def test_a_run_executed_while_a_proposal_computes_refuses_the_proposal(
        admin_users: Store, example_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # propose reads the executed runs, computes, then writes. A run executed in between is counted by neither
    # side: the proposal would pay its days again. Driven in order: the execute happens inside compute.
    store = admin_users
    friday = propose_run(store, make_payouts({"C00001": 10_00}), date(2026, 11, 20), "otto", settings=SMALL).run
    approve_run(store, friday.ref, "fiona")
    compute = runs.compute_payouts

    def compute_while_friday_is_executed(*args, **kwargs):  # type: ignore[no-untyped-def]
        frame = compute(*args, **kwargs)
        execute_run(store, friday.ref, "felix", tmp_path)  # commits between the proposal's read and write
        return frame

    monkeypatch.setattr(runs, "compute_payouts", compute_while_friday_is_executed)
    with pytest.raises(WorkflowError, match=rf"run {friday.ref} was executed while these payouts were computed"):
        propose_from_data(store, "otto", example_data_dir, "2026-11-23")
    assert [r.ref for r in list_runs(store, "rita", payout_date="2026-11-23")] == []  # nothing proposed
    monkeypatch.undo()
    again = propose_from_data(store, "otto", example_data_dir, "2026-11-23").run  # now it counts Friday's run
    assert again.status == "proposed"


def test_a_credit_change_while_a_proposal_computes_refuses_it_too(
        admin_users: Store, example_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas_xl.workflow.credit import change_credit_limit

    store = admin_users
    compute = runs.compute_payouts

    def compute_while_a_limit_changes(*args, **kwargs):  # type: ignore[no-untyped-def]
        frame = compute(*args, **kwargs)
        change_credit_limit(store, "carl", "C00001", 1_00)
        return frame

    monkeypatch.setattr(runs, "compute_payouts", compute_while_a_limit_changes)
    with pytest.raises(WorkflowError, match="change credit limit of C00001 was recorded while"):
        propose_from_data(store, "otto", example_data_dir, "2026-11-23")


def test_reuse_needs_the_whole_snapshot_not_only_ids_and_amounts(admin_users: Store) -> None:
    store = admin_users
    day = date(2024, 3, 28)
    frame = make_payouts({"C001": 10_00, "C002": 20_00})
    run = propose_run(store, frame, day, "otto", settings=SMALL).run
    assert find_open_run(store, frame, day, "otto", settings=SMALL) == run
    for column, value in (("iban", "DE89370400440532013000"), ("name", "Renamed GmbH"), ("bic", "COBADEFFXXX"),
                          ("remittance", "other text")):
        changed = frame.copy()
        changed.loc[changed["client_id"] == "C002", column] = value
        assert find_open_run(store, changed, day, "otto", settings=SMALL) is None, column
    other_account = Settings(dual_approval_cents=SMALL.dual_approval_cents, debtor_iban="DE02120300000000202051")
    with pytest.raises(ConfigError, match="paying account DE02120300000000202051 is not policy P1's"):
        find_open_run(store, frame, day, "otto", settings=other_account)  # the account is the policy's only
    add_user(store, "ada", "alex", "admin")
    approve_policy(store, "alex", propose_policy(store, "ada", debtor_iban="DE02120300000000202051").ref)
    assert find_open_run(store, frame, day, "otto", settings=SMALL) is None  # another paying account: a new run


@pytest.fixture
def book_and_store(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    path = tmp_path / "ops.xlsm"
    shutil.copy(repo_root / "workbook_templates" / "atlas_operations.xlsm", path)
    xe.CACHE.clear()
    url = f"sqlite:///{tmp_path / 'atlas.db'}"
    monkeypatch.setenv("ATLAS_DB_URL", url)
    from atlas_xl.store.database import open_store

    store = open_store(url, demo=True)  # a demo store: the user's profiles.toml names who acts
    add_user(store, None, "admin", "admin")
    add_user(store, "admin", "olga", "operations")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "config" / "atlas-xl").mkdir(parents=True)
    (tmp_path / "config" / "atlas-xl" / "profiles.toml").write_text('[profiles.default]\ndemo_user = "olga"\n')
    return path, url


def test_excel_propose_run_does_not_reuse_a_run_whose_iban_changed(book_and_store: tuple[Path, str]) -> None:
    from atlas_xl.store.database import open_store

    book_path, url = book_and_store
    first = macros.propose_run(macros.FileBook(book_path))
    assert first.startswith("Run R1 ")
    assert macros.propose_run(macros.FileBook(book_path)) == first  # unchanged: the same run
    # change the IBAN of a client that is paid in R1 (same ids, same amounts)
    detail = runs.show_run(open_store(url), "R1", "olga")
    paid = detail.payouts[0]
    book = openpyxl.load_workbook(book_path, keep_vba=True)
    sheet = book[TABLE_SHEETS["clients"]]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[header.index("client_id")].value == paid.client_id)
    new_iban = "DE89370400440532013000" if paid.iban != "DE89370400440532013000" else "DE02120300000000202051"
    row[header.index("iban")].value = new_iban
    book.save(book_path)
    xe.CACHE.clear()
    second = macros.propose_run(macros.FileBook(book_path))
    assert second.startswith("Run R2 ")  # a new run pays the new IBAN; R1 is superseded
    store = open_store(url)
    assert [(r.ref, r.status) for r in list_runs(store, "olga")] == [("R1", "superseded"), ("R2", "proposed")]
    new = {p.client_id: p.iban for p in runs.show_run(store, "R2", "olga").payouts}
    assert new[paid.client_id] == new_iban
