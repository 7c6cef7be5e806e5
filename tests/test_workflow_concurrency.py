"""Exactly-once under concurrency and crashes: real processes against SQLite and PostgreSQL.

Processes are forked (each opens its own engine); a barrier releases them together. The crash test kills
the executing process with os._exit at every step of `execute_run` (ATLAS_CRASH_AT) and then executes again.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from atlas_xl.errors import AtlasError
from atlas_xl.settings import Settings
from atlas_xl.store.database import Store, open_store
from atlas_xl.store.models import AuditEntry, PaidPayout, PayoutRun
from atlas_xl.workflow import execution, runs
from atlas_xl.workflow.audit_queries import verify_audit
from atlas_xl.workflow.execution import CRASH_ENV, CRASH_POINTS, execute_run, render_run_file
from atlas_xl.workflow.results import RunSummary
from atlas_xl.workflow.runs import approve_run, list_runs, propose_run, show_run
from tests.pg_fixtures import *  # noqa: F403
from tests.pg_fixtures import make_payouts

DAY = date(2024, 3, 28)
SMALL = Settings()  # the initial payment policy (EUR 100,000 dual approval): the small runs below need one approver
CTX = mp.get_context("fork")
WORKFLOW = {"propose_run": runs, "approve_run": runs, "execute_run": execution, "show_run": runs,
            "list_runs": runs}


def _worker(url: str, call: str, args: tuple[Any, ...], kwargs: dict[str, Any], barrier: Any, queue: Any,
            crash_at: str | None = None) -> None:
    if crash_at:
        os.environ[CRASH_ENV] = crash_at
    store = open_store(url, upgrade=False)
    if barrier is not None:
        barrier.wait(timeout=60)
    try:
        result = getattr(WORKFLOW[call], call)(store, *args, **kwargs)
        queue.put(("ok", result.to_dict()))
    except AtlasError as error:
        queue.put((type(error).__name__, str(error)))
    except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the test
        queue.put(("crash", f"{type(error).__name__}: {error}"))


def _race(store: Store, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> list[tuple[str, Any]]:
    store.dispose()  # no pooled connection may be shared with the children
    barrier, queue = CTX.Barrier(len(calls)), CTX.Queue()
    procs = [CTX.Process(target=_worker, args=(store.url.render_as_string(hide_password=False), name, args,
                                               kwargs, barrier, queue)) for name, args, kwargs in calls]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def _count(store: Store, model: Any, *where: Any) -> int:
    with store.transaction() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _approved_run(store: Store, amounts: dict[str, int]) -> RunSummary:
    run = propose_run(store, make_payouts(amounts), DAY, "otto", settings=SMALL).run
    return approve_run(store, run.ref, "fiona")


def test_concurrent_execute_exactly_one_wins(admin_users: Store, tmp_path: Path) -> None:
    store = admin_users
    run = _approved_run(store, {"C001": 10_00, "C002": 20_00, "C003": 30_00})
    results = _race(store, [("execute_run", (run.ref, user, tmp_path), {}) for user in ("fiona", "felix", "frida")])
    assert all(kind == "ok" for kind, _ in results), results
    winners = [r for _, r in results if not r["already_executed"]]
    assert len(winners) == 1
    assert {r["sha256"] for _, r in results} == {winners[0]["sha256"]}
    assert _count(store, AuditEntry, AuditEntry.action == "execute") == 1
    assert _count(store, PaidPayout) == 3
    xml = sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".xml")
    assert xml == [f"DEMO-payout-run-R{run.run_id}.xml"]  # a demo store's file
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert hashlib.sha256((tmp_path / xml[0]).read_bytes()).hexdigest() == winners[0]["sha256"]


def test_concurrent_execute_into_different_folders_leaves_one_file(admin_users: Store, tmp_path: Path) -> None:
    store = admin_users
    run = _approved_run(store, {"C001": 10_00})
    results = _race(store, [("execute_run", (run.ref, "fiona", tmp_path / "a"), {}),
                            ("execute_run", (run.ref, "felix", tmp_path / "b"), {})])
    assert sorted(r["already_executed"] for _, r in results) == [False, True]
    files = sorted(tmp_path.rglob("*.xml"))
    assert len(files) == 1 and str(files[0]) == results[0][1]["xml_path"] == results[1][1]["xml_path"]


def test_concurrent_approvals_only_one_counts(admin_users: Store) -> None:
    store = admin_users
    run = propose_run(store, make_payouts({"C001": 10_00}), DAY, "otto", settings=SMALL).run
    results = _race(store, [("approve_run", (run.ref, user), {}) for user in ("fiona", "felix", "frida")])
    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["WorkflowError", "WorkflowError", "ok"], results
    assert all("is approved; only a proposed run can be approved" in m for k, m in results if k != "ok")
    assert show_run(store, run.ref, "rita").summary.status == "approved"


def test_concurrent_distinct_approvers_on_a_large_run(admin_users: Store) -> None:
    store = admin_users
    big = Settings(dual_approval_cents=10_00)
    run = propose_run(store, make_payouts({"C001": 10_00}), DAY, "otto", settings=big).run
    results = _race(store, [("approve_run", (run.ref, user), {}) for user in ("fiona", "felix")])
    assert [k for k, _ in results] == ["ok", "ok"]
    summary = show_run(store, run.ref, "rita").summary
    assert (summary.status, sorted(summary.approvals)) == ("approved", ["felix", "fiona"])


def test_concurrent_propose_keeps_one_open_run_per_date(admin_users: Store) -> None:
    store = admin_users
    results = _race(store, [("propose_run", (make_payouts({"C001": 10_00}), DAY, user), {"settings": SMALL})
                            for user in ("otto", "olga")])
    assert [k for k, _ in results] == ["ok", "ok"]
    statuses = sorted(r.status for r in list_runs(store, "rita"))
    assert statuses == ["proposed", "superseded"]
    assert verify_audit(store, "rita").ok


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_kill_9_at_every_step_then_retry_pays_once(admin_users: Store, tmp_path: Path, crash_at: str) -> None:
    # the executing process is killed with SIGKILL at each step; invariant afterwards: a payment file on disk
    # <=> an executed run; retrying pays every (client, payout date) once and delivers the same bytes
    store = admin_users
    run = _approved_run(store, {"C001": 10_00, "C002": 20_01})
    with store.transaction() as s:
        expected = render_run_file(s, s.get(PayoutRun, run.run_id), "pain.001.001.09")
    store.dispose()
    queue = CTX.Queue()
    child = CTX.Process(target=_worker, args=(store.url.render_as_string(hide_password=False), "execute_run",
                                              (run.ref, "fiona", tmp_path), {}, None, queue, crash_at))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -9  # killed by SIGKILL at the injected point, nothing reported
    committed = CRASH_POINTS.index(crash_at) >= CRASH_POINTS.index("after_commit")
    status = show_run(store, run.ref, "rita").summary.status
    assert status == ("executed" if committed else "approved")
    on_disk = [p for p in tmp_path.iterdir() if p.suffix == ".xml"]
    assert bool(on_disk) == (crash_at in ("after_rename", "after_delivered"))  # a file only after the commit
    assert (not on_disk) or status == "executed"
    assert _count(store, PaidPayout) == (2 if committed else 0)

    result = execute_run(store, run.ref, "felix", tmp_path)
    assert result.already_executed == committed
    assert result.run.status == "executed" and result.run.delivered_at is not None
    assert result.run.delivered_to == str(tmp_path.resolve())
    xml = [p for p in tmp_path.iterdir() if p.suffix == ".xml"]
    assert xml == [tmp_path.resolve() / f"DEMO-payout-run-R{run.run_id}.xml"]
    assert xml[0].read_bytes() == expected  # the same bytes whoever and whenever executes
    assert result.sha256 == hashlib.sha256(expected).hexdigest()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert _count(store, AuditEntry, AuditEntry.action == "execute") == 1
    assert _count(store, AuditEntry, AuditEntry.action == "deliver") == 1
    with store.transaction() as s:  # every (client, payout date) paid once
        paid = s.execute(select(PaidPayout.client_id, PaidPayout.payout_date)).all()
    assert sorted(paid) == [("C001", DAY), ("C002", DAY)]
    assert _count(store, PaidPayout) == 2
    assert verify_audit(store, "rita").ok
